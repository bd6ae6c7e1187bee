#!/usr/bin/env python3
"""Reads certmint's notification mails out of a Maildir with Python's email
package (a parser independent of certmint's MIME builder), for the SMTP exit
module's tests and benchmark.

    maildir.py scan MAILDIR OUTDIR [RCPT]

Only messages delivered to RCPT (Delivered-To), when given. Writes:
  OUTDIR/mails.tsv   one line per file, in event order: file, delivered_to, message_id,
                     x_event, x_event_id, x_event_count, x_request_id,
                     x_serial, subject (decoded), to, cc, attachments,
                     defects, subject_encoded (1 if the raw Subject holds RFC
                     2047 encoded-words), x_ca, x_ca_key_id, date (1 if Date
                     parses)
  OUTDIR/events.tsv  one line per block of each distinct message's
                     events.txt part: message_id, event_id, event,
                     request_id, serial, attachment, revoked_reason,
                     crl_number
  OUTDIR/body/N.txt  the text/plain part of the Nth line of mails.tsv
  OUTDIR/att/NAME    every application/pkix-cert attachment (base64 decoded)
Prints the number of files read."""
import email
import email.policy
import email.utils
import os
import sys


def blocks(text):
    """The header blocks of an events.txt part (blank-line separated)."""
    out, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur = {}
            continue
        k, _, v = line.partition(":")
        cur[k.strip()] = v.strip()
    if cur:
        out.append(cur)
    return out


def scan(maildir, outdir, rcpt):
    os.makedirs(os.path.join(outdir, "body"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "att"), exist_ok=True)
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            files += [os.path.join(d, f) for f in os.listdir(d)]
    # Event order (the first event ID of each mail), then delivery time.
    def order(p):
        eid = ""
        with open(p, "rb") as f:
            for line in f:
                if line in (b"\n", b"\r\n"):
                    break
                if line.lower().startswith(b"x-certmint-event-id:"):
                    eid = line.split(b":", 1)[1].strip().split(b"-")[0].decode()
        return (int(eid) if eid.isdigit() else 0, os.path.getmtime(p), os.path.basename(p))
    files.sort(key=order)
    seen = set()
    n = 0
    with open(os.path.join(outdir, "mails.tsv"), "w") as mails, \
            open(os.path.join(outdir, "events.tsv"), "w") as evs:
        for path in files:
            raw = open(path, "rb").read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            to = str(msg.get("Delivered-To", ""))
            if rcpt and to != rcpt:
                continue
            defects = len(msg.defects)
            text = ""
            natt = 0
            events_part = None
            for part in msg.walk():
                defects += len(part.defects)
                ct = part.get_content_type()
                if ct == "text/plain":
                    text = part.get_content()
                elif ct == "text/x-certmint-events":
                    events_part = part.get_content()
                elif ct == "application/pkix-cert":
                    natt += 1
                    name = os.path.basename(part.get_filename() or "noname.cer")
                    with open(os.path.join(outdir, "att", name), "wb") as f:
                        f.write(part.get_payload(decode=True))
            mid = str(msg.get("Message-ID", ""))
            raw_subject = b""
            for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
                if line.lower().startswith(b"subject:") or (raw_subject and line[:1] in (b" ", b"\t")):
                    raw_subject += line
                elif raw_subject:
                    break
            try:
                date_ok = email.utils.parsedate_to_datetime(str(msg["Date"])) is not None
            except (TypeError, ValueError):
                date_ok = False
            fields = [
                os.path.basename(path), to, mid,
                str(msg.get("X-Certmint-Event", "")), str(msg.get("X-Certmint-Event-ID", "")),
                str(msg.get("X-Certmint-Event-Count", "")),
                str(msg.get("X-Certmint-Request-ID", "")), str(msg.get("X-Certmint-Serial", "")),
                str(msg.get("Subject", "")),
                ",".join(a.addr_spec for a in msg["To"].addresses) if msg["To"] else "",
                ",".join(a.addr_spec for a in msg["Cc"].addresses) if msg["Cc"] else "",
                str(natt), str(defects), "1" if b"=?" in raw_subject.lower() and b"?=" in raw_subject else "0",
                str(msg.get("X-Certmint-CA", "")), str(msg.get("X-Certmint-CA-Key-ID", "")),
                "1" if date_ok else "0",
            ]
            mails.write("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields) + "\n")
            with open(os.path.join(outdir, "body", "%d.txt" % (n + 1)), "w") as f:
                f.write(text)
            n += 1
            if mid in seen or events_part is None:
                continue
            seen.add(mid)
            for b in blocks(events_part):
                evs.write("\t".join([mid, b.get("X-Certmint-Event-ID", ""), b.get("X-Certmint-Event", ""),
                                     b.get("X-Certmint-Request-ID", ""), b.get("X-Certmint-Serial", ""),
                                     b.get("X-Certmint-Attachment", ""),
                                     b.get("X-Certmint-Revoked-Reason", ""),
                                     b.get("X-Certmint-CRL-Number", "")]) + "\n")
    print(n)


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] != "scan":
        print(__doc__, file=sys.stderr)
        return 2
    scan(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
