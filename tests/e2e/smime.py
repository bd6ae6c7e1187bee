#!/usr/bin/python3
"""Helpers of tests/e2e/smime.sh that need more than the shell.

    smime.py web --url URL --home HOME --token FILE --csr FILE --out FILE --shots DIR
        Headless Chromium (Selenium; HOME holds the NSS database that trusts
        the CA) redeems the token on /certsrv/token with the pasted CSR,
        downloads the issued certificate (PEM) into FILE, then sends the same
        token again and checks the refusal. Prints "ok - ..." / "not ok - ..."
        lines; exits 1 on a failure.
    smime.py send --port PORT --cafile FILE --sender ADDR --rcpt ADDR --message FILE
        Sends the message (bytes as they are) over SMTP to 127.0.0.1:PORT
        after STARTTLS (the server certificate verified against FILE).
"""
import argparse
import os
import re
import smtplib
import ssl
import sys

import chromium_lib
from chromium_lib import check, ok


def shot(d, shots, name):
    chromium_lib.shot(d, os.path.join(shots, "smime-" + name + ".png"))


def redeem(d, a, token, csr, name):
    """Fills the token form from the start page's link; returns the page text."""
    from selenium.webdriver.common.by import By
    d.get(a.url + "/certsrv")
    d.find_element(By.LINK_TEXT, "Redeem an enrollment token").click()
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "csr").send_keys(csr)
    shot(d, a.shots, name + "-form")
    d.find_element(By.ID, "submit").click()
    shot(d, a.shots, name + "-result")
    return d.find_element(By.TAG_NAME, "body").text


def web(a):
    from selenium.webdriver.common.by import By
    token = open(a.token).read().strip()
    csr = open(a.csr).read()
    downloads = os.path.join(a.home, "downloads")
    os.makedirs(downloads, exist_ok=True)
    d = chromium_lib.browser(a.home, downloads)
    try:
        text = redeem(d, a, token, csr, "token")
        check("web: the token form issues at once (" + d.title + ")",
              d.title == "Certificate issued - certmint", text[:300])
        m = re.search(r"Request (\d+) was issued", text)
        rid = m.group(1) if m else "?"
        d.find_element(By.LINK_TEXT, "certificate (PEM)").click()
        chromium_lib.download_to(os.path.join(downloads, "request-%s.pem" % rid), a.out,
                                 "web: certificate")
        text = redeem(d, a, token, csr, "token-again")
        check("web: the same token again is refused (" + d.title + ")",
              d.title == "Forbidden - certmint" and "used already" in text, text[:300])
        n = d.execute_script("return document.querySelectorAll('script').length")
        check("web: no script element on the token pages", n == 0, str(n))
    finally:
        d.quit()


def send(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    with smtplib.SMTP("127.0.0.1", int(a.port), timeout=30) as s:
        s.starttls(context=ctx)
        s.sendmail(a.sender, [a.rcpt], open(a.message, "rb").read())
    ok("mail sent through the private Postfix (STARTTLS)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("web")
    for k in ("url", "home", "token", "csr", "out", "shots"):
        w.add_argument("--" + k, required=True)
    s = sub.add_parser("send")
    for k in ("port", "cafile", "sender", "rcpt", "message"):
        s.add_argument("--" + k, required=True)
    a = p.parse_args()
    web(a) if a.cmd == "web" else send(a)
    return 1 if chromium_lib.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
