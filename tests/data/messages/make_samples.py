"""Writes the sample messages of tests/test_health.py (run it to change them, and update
expected.csv with what each must be found to get wrong): python make_samples.py"""

from email.message import EmailMessage
from email.policy import SMTP

TEXT = ("Autumn is here, and so are our member offers. This week every loyalty member gets "
        "20 % off winter jackets, free delivery on orders over 50 euros and double points on "
        "footwear. Visit your nearest store or shop online: the offers run until Sunday. "
        "Our stores in Helsinki, Tampere and Turku are open late on Thursday and Friday, and "
        "our staff will gladly help you find the right size. Thank you for being a member. "
        "You receive this e-mail because you joined our loyalty programme in one of our "
        "stores or online. ")
AUTH_OK = ("mx.example.net; spf=pass (sender IP is 192.0.2.1) "
           "smtp.mailfrom=bounce.shop.example.com; dkim=pass header.d=shop.example.com "
           "header.s=s1; dmarc=pass (p=REJECT) header.from=shop.example.com")
DKIM_OK = ("v=1; a=rsa-sha256; d=shop.example.com; s=s1; "
           "h=from:to:subject:date:list-unsubscribe:list-unsubscribe-post; bh=abc; b=def")
HERO = ('<img src="https://shop.example.com/i/hero.jpg" alt="Winter jackets" width="600" '
        'height="300">')


def html(body_extra="", width="600", viewport=True, preheader=True, unsubscribe=True,
         images=HERO, links='<a href="https://shop.example.com/offers">See the offers</a>',
         text=TEXT):
    head = ('<meta name="viewport" content="width=device-width, initial-scale=1">'
            if viewport else "")
    pre = ('<div style="display:none;max-height:0;overflow:hidden">20 % off winter jackets '
           'for members this week</div>') if preheader else ""
    unsub = ('<p><a href="https://shop.example.com/unsubscribe?u=123">Unsubscribe</a></p>'
             if unsubscribe else "")
    return (f'<!doctype html><html><head>{head}<title>Offers</title></head><body>{pre}'
            f'<table width="{width}" align="center"><tr><td>{images}<p>{text}</p>{links}'
            f'{body_extra}{unsub}</td></tr></table></body></html>')


def message(name, subject="Autumn offers for members",
            sender="Shop <news@shop.example.com>", auth=AUTH_OK, dkim=DKIM_OK,
            unsub="<https://shop.example.com/u/123>, <mailto:u-123@shop.example.com>",
            post="List-Unsubscribe=One-Click", body=None, text=True):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "anna.virtanen@elisa.fi"
    m["Subject"] = subject
    m["Date"] = "Mon, 30 Nov 2026 08:00:00 +0000"
    m["Message-ID"] = f"<{name}@shop.example.com>"
    for header, value in (("DKIM-Signature", dkim), ("Authentication-Results", auth),
                          ("List-Unsubscribe", unsub), ("List-Unsubscribe-Post", post)):
        if value:
            m[header] = value
    if text:
        m.set_content(TEXT + "\nUnsubscribe: https://shop.example.com/u/123\n")
        m.add_alternative(body or html(), subtype="html")
    else:
        m.set_content(body or html(), subtype="html")
    with open(f"{name}.eml", "wb") as f:
        f.write(m.as_bytes(policy=SMTP))


def main():
    message("good")
    message("no_one_click", unsub="<mailto:u-123@shop.example.com>", post=None)
    message("dmarc_not_aligned",
            auth="mx.example.net; spf=pass smtp.mailfrom=bounces.esp-mailer.net; dkim=pass "
                 "header.d=esp-mailer.net; dmarc=fail header.from=shop.example.com",
            dkim="v=1; d=esp-mailer.net; s=k1; "
                 "h=from:subject:list-unsubscribe:list-unsubscribe-post; bh=a; b=b")
    message("clipped", body=html(text=TEXT * 240))
    message("images_without_alt", body=html(images="".join(
        f'<img src="https://shop.example.com/i/{i}.jpg">' for i in range(8)),
        text="Offers inside."))
    message("html_only", text=False)
    message("wide_layout", body=html(width="800", viewport=False,
                                     body_extra='<div style="width: 900px">Footer</div>'))
    message("bad_links", body=html(
        links=('<a href="https://bit.ly/3xYz">Offers</a> <a href="htp//shop.example.com">'
               'Shop</a> <a href="javascript:void(0)" onclick="go()">Go</a>'),
        body_extra='<form action="https://shop.example.com/s"><input name="q"></form>'))
    message("long_subject_no_preheader",
            subject="Only this week: 20 % off every winter jacket, free delivery and double "
                    "points for members",
            body=html(preheader=False, unsubscribe=False))
    message("no_authentication_results", auth=None)
    message("dkim_misses_unsubscribe_post",
            dkim="v=1; d=shop.example.com; s=s1; h=from:to:subject:list-unsubscribe; bh=a; b=b")
    message("subdomain_aligned", sender="Shop UK <news@mail.shop.co.uk>",
            auth="mx.example.net; spf=fail smtp.mailfrom=esp-mailer.net; dkim=pass "
                 "header.d=shop.co.uk; dmarc=pass header.from=mail.shop.co.uk",
            dkim="v=1; d=shop.co.uk; s=s1; h=from:list-unsubscribe:list-unsubscribe-post; "
                 "bh=a; b=b")
    message("co_uk_not_aligned", sender="Shop UK <news@shop.co.uk>",
            auth="mx.example.net; spf=pass smtp.mailfrom=other.co.uk; dkim=pass "
                 "header.d=other.co.uk; dmarc=fail header.from=shop.co.uk",
            dkim="v=1; d=other.co.uk; s=s1; h=from:list-unsubscribe:list-unsubscribe-post; "
                 "bh=a; b=b")


if __name__ == "__main__":
    main()
