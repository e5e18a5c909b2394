"""A demo worker: ``python -m lifecycle.synthetic FOLDER OPTIONS K...`` makes parts ``K`` of
the demo that ``OPTIONS`` (JSON) describes, writes them into ``FOLDER`` and prints each part's
number when it is written (:func:`lifecycle.synthetic.write_parts` starts it)."""

import json
import sys
from pathlib import Path

from lifecycle.synthetic import _write_part

folder, options, *ks = sys.argv[1:]
for k in ks:
    _write_part(Path(folder), json.loads(options), int(k))
    print(k, flush=True)
