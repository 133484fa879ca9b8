#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/.

The seeds are small, realistic inputs that reach every branch worth reaching
quickly; libFuzzer mutates from there. Re-run after changing an input format
(see the comment at the top of each fuzz_*.cpp); the output is committed.
"""

import base64
import hashlib
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(s: bytes) -> bytes:
    return base64.b64encode(s)


def write(target: str, seeds: dict) -> None:
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


# ---- fuzz_session: 3 header bytes (options, more, block size) + client bytes.
# options: 1 APOP, 2 STLS offered, 4 already TLS, 8 plaintext allowed,
#          0x10/0x20/0x30 maildrop 1/2/3, 0x40 odd messages fail, 0x80 commit fails
# more:    1 EXPIRE NEVER, 2 EXPIRE 0, 3 EXPIRE 30, 4 LOGIN-DELAY, 8 plaintext after STLS,
#          0x10 OAuth on, 0x20 the big maildrop (LIST and UIDL come in pieces)
# A secret ending in 0-3 logs in; 4 bad credentials, 5 in use, 6 delay, 7 temp failure.
def session(opts: int, more: int, block: int, lines) -> bytes:
    return bytes([opts, more, block]) + b"".join(l + b"\r\n" for l in lines)


PLAIN_OK = b64(b"\0alice\0secret0")
SCRAM_FIRST = b'n,,n=user,r=rOprNGfwEbeRWgbNEkqO'
SCRAM_FINAL = (b'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,'
               b'p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')


def bearer(user: bytes, token: bytes) -> bytes:
    return b64(b"n,a=" + user + b",\x01host=pop.test\x01auth=Bearer " + token + b"\x01\x01")


SESSION = {
    "auth_scram_rfc7677": session(0x08, 0, 0, [
        b"AUTH SCRAM-SHA-256", b64(SCRAM_FIRST), b64(SCRAM_FINAL), b"", b"STAT", b"QUIT"]),
    "auth_scram_initial_wrong_proof_cancel": session(0x00, 0, 3, [
        b"AUTH", b"CAPA", b"AUTH SCRAM-SHA-256 " + b64(SCRAM_FIRST),
        b64(SCRAM_FINAL[:-4] + b"AAA="), b"AUTH SCRAM-SHA-256 " + b64(b"n,,n=use7,r=x"),
        b"AUTH SCRAM-SHA-256", b"*", b"AUTH SCRAM-SHA-256 " + b64(b"y,a=x,n=u=2C,r=1"),
        b"QUIT"]),
    "auth_scram_plus_on_tls": session(0x0c, 0, 0, [
        b"CAPA", b"AUTH SCRAM-SHA-256-PLUS " + b64(b"p=tls-exporter,,n=user,r=abc"),
        b64(b"c=" + b64(b"p=tls-exporter,," + b"b" * 32) + b",r=abc%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA"),
        b"AUTH SCRAM-SHA-256 " + b64(b"y,,n=user,r=abc"), b"QUIT"]),
    "oauthbearer_ok_and_refused": session(0x18, 0x10, 0, [
        b"CAPA", b"AUTH", b"AUTH OAUTHBEARER " + bearer(b"alice", b"e.y.J4"), b"AQ==",
        b"AUTH OAUTHBEARER", bearer(b"alice", b"e.y.J4"), b"*",
        b"AUTH XOAUTH2 " + b64(b"user=alice\x01auth=Bearer tok0\x01\x01"), b"STAT", b"QUIT"]),
    "xoauth2_refused_three_times": session(0x08, 0x10, 3, [
        b"AUTH XOAUTH2 " + b64(b"user=bob\x01auth=Bearer t4\x01\x01"), b"",
        b"AUTH XOAUTH2 " + b64(b"user=bob\x01auth=Bearer t4\x01\x01"), b"",
        b"AUTH OAUTHBEARER " + bearer(b"b=2Cob", b"t4"), b"AQ==", b"QUIT"]),
    "big_maildrop_listings_in_pieces": session(0x08, 0x20, 0, [
        b"USER alice", b"PASS secret0", b"LIST", b"UIDL", b"DELE 1", b"DELE 7499", b"LIST",
        b"UIDL", b"LIST 7500", b"RETR 7496", b"TOP 7491 1", b"STAT", b"RSET", b"UIDL", b"QUIT"]),
    "user_pass_all_commands": session(0x38, 0, 0, [
        b"CAPA", b"USER alice", b"PASS secret0", b"STAT", b"LIST", b"LIST 2", b"UIDL",
        b"UIDL 1", b"RETR 1", b"RETR 2", b"TOP 2 3", b"TOP 4 0", b"DELE 1", b"LIST 1",
        b"RSET", b"DELE 2", b"NOOP", b"CAPA", b"QUIT"]),
    "auth_plain_initial_response": session(0x28, 0, 0, [
        b"AUTH", b"AUTH PLAIN " + PLAIN_OK, b"STAT", b"RETR 1", b"RETR 2", b"RETR 3", b"QUIT"]),
    "auth_plain_challenge": session(0x18, 0, 5, [
        b"AUTH PLAIN", b"*", b"AUTH PLAIN", b"=", b"AUTH plain", PLAIN_OK, b"LIST", b"QUIT"]),
    "auth_login": session(0x38, 0, 1, [
        b"AUTH LOGIN", b64(b"alice"), b64(b"secret1"), b"UIDL", b"TOP 2 10", b"QUIT"]),
    "auth_login_initial_and_bad_base64": session(0x08, 0, 0, [
        b"AUTH LOGIN " + b64(b"bob"), b"not base64!", b"AUTH PLAIN " + b64(b"x\0bob\0pw2"),
        b"AUTH CRAM-MD5", b"AUTH PLAIN " + b64(b"\0bob\0secret2"), b"QUIT"]),
    # Byte by byte, so the lines after STLS arrive after the handshake.
    "stls_then_login": session(0x32, 0x08, 1, [
        b"CAPA", b"USER alice", b"PASS secret0", b"STLS", b"CAPA", b"STLS", b"USER alice",
        b"PASS secret3", b"STAT", b"QUIT"]),
    "stls_pipelined_plaintext_discarded": session(0x12, 0x08, 0, [
        b"STLS", b"USER alice", b"PASS secret0", b"STAT"]),
    "stls_refused_plaintext": session(0x02, 0x00, 1, [
        b"STLS", b"USER alice", b"AUTH PLAIN " + PLAIN_OK, b"QUIT"]),
    "apop": session(0x31, 0x04, 0, [
        b"CAPA", b"APOP alice 0123456789abcdef0123456789abcde0", b"STAT", b"RETR 5", b"QUIT"]),
    "apop_bad_digest": session(0x01, 0, 0, [
        b"APOP alice xyz", b"APOP alice 0123456789ABCDEF0123456789ABCDE4", b"QUIT"]),
    "login_failures": session(0x08, 0, 0, [
        b"USER alice", b"PASS secret5", b"USER alice", b"PASS secret6", b"USER alice",
        b"PASS secret7", b"USER alice", b"PASS wrong4", b"USER alice", b"PASS wrong4",
        b"USER alice", b"PASS wrong4", b"USER alice"]),
    "bad_commands": session(0x08, 0, 3, [
        b"", b"HELO", b"user", b"USER", b"USER a b", b"PASS x", b"RETR 1", b"STAT",
        b"list\t1", b"X", b"TOOLONG", b"NOOP", b"QUIT"]),
    "bad_message_numbers": session(0x38, 0, 0, [
        b"user alice", b"pass secret2", b"list 0", b"list 6", b"list x", b"list 1 2",
        b"retr", b"retr -1", b"top 1", b"top 1 x", b"top x 1", b"dele 99999999999999999999",
        b"dele 1", b"dele 1", b"retr 1", b"stat extra", b"noop x", b"rset x", b"quit"]),
    "expire_zero_commit_fails": session(0xf8, 0x02, 0, [
        b"USER bob", b"PASS secret1", b"RETR 1", b"RETR 2", b"TOP 3 1", b"DELE 4",
        b"QUIT"]),
    "empty_maildrop_capa_variants": session(0x08, 0x07, 0, [
        b"CAPA", b"USER a@example.com", b"PASS pass word 0", b"CAPA", b"STAT", b"LIST",
        b"UIDL", b"RSET", b"QUIT"]),
    "bare_lf_and_spaces": bytes([0x28, 0, 2]) +
        b"USER  alice\nPASS  secret0 \nLIST   \nUIDL\t\nRETR 3\nQUIT\n",
    "long_line": bytes([0x08, 0, 0]) + b"USER " + b"a" * 8200 + b"\r\n",
    "long_sasl_response": bytes([0x08, 0, 64]) + b"AUTH PLAIN\r\n" +
        b64(b"\0" + b"u" * 300 + b"\0" + b"p" * 3000) + b"\r\n",
}

# ---- fuzz_dot_codec: 3 header bytes (mode, TOP limit, split seed) + message.
# mode bit 0: TOP with the limit; bit 1: decoder mode (the rest is wire data).
DOT = {
    "lf_message": b"\0\0\1From: a@example.com\nSubject: lf\n\nHello\nWorld\n",
    "crlf_message": b"\0\0\2From: a@example.com\r\nSubject: crlf\r\n\r\nLine one\r\nLine two\r\n",
    "dots": b"\0\0\3Subject: dots\n\n.\n..\n.hidden\n.\n\r\n.\r\n",
    "no_final_newline": b"\0\0\4Subject: x\n\nlast line without newline",
    "lone_cr": b"\0\0\5a\rb\r\n\r.\r\r\n.\r\n\r",
    "eight_bit": b"\0\0\6Subject: 8bit\n\n" + bytes(range(0x80, 0x100)) + b"\n\0\1\2\n",
    "empty": b"\0\0\7",
    "top_two": b"\1\2\x10Subject: top\n\nbody 1\n.body 2\nbody 3\nbody 4\n",
    "top_zero": b"\1\0\x11Subject: top\r\n\r\nbody\r\n",
    "top_no_header_end": b"\1\1\x12Subject: a\nX: b\n",
    "top_blank_first": b"\1\3\x13\n\n\n.\n",
    "decode_wire": b"\2\0\x20+OK\r\nline\r\n..dot\r\n.\r\n+OK next\r\n",
    "decode_bare_lf_dot": b"\2\0\x21a\n.\n\r\n.\nb\n.\r\n.\r\n",
    "decode_smuggling": b"\2\0\x23hi\n.\nMAIL FROM:<x>\r\nRCPT TO:<bob>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n",
    "decode_dot_cr": b"\2\0\x22.\rx\r\n.\r\r\n.\r\n",
}

# ---- fuzz_passwd_file: a Dovecot passwd-file.
salt = b"NaCl1234"
ssha256 = b64(hashlib.sha256(b"secret0" + salt).digest() + salt)
PASSWD = {
    "dovecot_full": (
        b"# popbox users\n"
        b"alice:{PLAIN}secret0::::::\n"
        b"bob@example.com:{SHA512-CRYPT}$6$saltsalt$wYShnnQ.FJNylUbpzght3GTLNp.bOqrdxtbn5V8."
        b"N2jbZSZRYhLnQMzjLBivhXE070TN1RF/MP8PjGce9XAnO/:1000:1000:Bob B:/home/bob:/bin/false:"
        b"userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=1G\n"
        b"carol:{SSHA256}" + ssha256 + b":::::: nopassword\n"
        b"dave:{PLAIN-MD5}175ec77a7f63082590987d0d8b051aff\n"
        b"erin:{SHA}0WzSb7w9RKYWuNCyzotd3Mk+lk0=\n"
    ),
    "crlf_and_blank": b"alice:{CLEARTEXT}pw\r\n\r\n   \r\n\t\n#x:y\r\nbob:{PLAIN.b64}" +
        b64(b"pw") + b"\r\n",
    "bad_lines": (
        b"nouser\n:nopassword\nbad uid:x:abc\nu1:x:1:gid\nu2:x:99999999999:1\n"
        b"u3::1:1\nu4:{NOPE}x\nu5:{PLAIN.hex}7077\nu5:{PLAIN}dup\nsp ace:{PLAIN}x\n"
        b"ctl\x01:{PLAIN}x\n"
    ),
    "schemes": (
        b"a:{MD5}$1$salt$qJH7.N4xYta3aEG/dfqo/0\nb:{MD5}175ec77a7f63082590987d0d8b051aff\n"
        b"c:{SSHA512}short\nd:{SMD5}" + b64(b"0123456789abcdef" + b"salt") + b"\n"
        b"e:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA\n"
        b"f:{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuu\ng:plaincrypt\nh:{SHA256.HEX}00\n"
        b"i:{LDAP-MD5}" + b64(hashlib.md5(b"pw").digest()) + b"\nj:{sha1}\nk:{\n"
    ),
    "no_final_newline": b"alice:{PLAIN}secret0:::::",
    "quota_rules": (
        b"a:{PLAIN}x:::::: userdb_quota_rule=*:storage=1G userdb_quota_rule2=*:messages=1000\n"
        b"b:{PLAIN}x:::::: quota_rule=*:bytes=512M:ignore quota_rule=Trash:storage=+10%\n"
        b"c:{PLAIN}x:::::: userdb_quota_rule=*:storage=99999999999999999999T\n"
        b"d:{PLAIN}x:::::: userdb_quota_rule=*\ne:{PLAIN}x:::::: userdb_quota_rule=*:noenforcing:"
        b"messages=x\n"
    ),
}

# ---- fuzz_config: a TOML file.
CONFIG = {
    "full": (
        b'[server]\nlisten = ["127.0.0.1:110", "[::1]:110"]\nlisten_tls = ["*:995"]\n'
        b'hostname = "pop.example.com"\nidle_timeout = "10m"\nmax_connections = 500\n'
        b'threads = 2\nexpire_days = "never"\nlogin_delay = "15m"\n\n'
        b'[tls]\ncert = "/etc/popbox/cert.pem"\nkey = "/etc/popbox/key.pem"\n'
        b'min_version = "1.3"\n\n'
        b'[auth]\npasswd_file = "/etc/popbox/users.passwd"\nallow_plaintext = "never"\n'
        b'apop = true\nfailure_delay = "2s"\n\n'
        b'[mail]\nmaildir = "/var/mail/%d/%n/Maildir"\n\n[log]\nlevel = "debug"\n'
    ),
    "delivery_sections": (
        b'[auth]\npasswd_file = "p"\n[mail]\nmaildir = "/m/%u"\nuidl_format = "%08Xu%08Xv"\n'
        b'[quota]\nstorage = "1G"\nmessages = 10000\ntemporary = true\n'
        b'[lmtp]\nlisten = ["127.0.0.1:24"]\nunix = "/run/popbox/lmtp"\n'
        b'max_message_size = "50M"\n[deliver]\nreturn_path = false\ndelivered_to = true\n'
    ),
    "minimal": b'[auth]\npasswd_file = "p"\n[mail]\nmaildir = "/m/%u"\n',
    "durations": (
        b'[server]\nidle_timeout = 600\nexpire_days = 0\nlogin_delay = "500ms"\n'
        b'[auth]\npasswd_file = "p"\nfailure_delay = "1h"\n[mail]\nmaildir = "m"\n'
    ),
    "errors": (
        b'[server]\nlisten = "127.0.0.1:110"\nlisten_tls = ["1.2.3.4"]\nthreads = 999\n'
        b'idle_timeout = "0s"\nbogus = 1\n[auth]\nallow_plaintext = "sometimes"\n'
    ),
    "tls_without_cert": b'[tls]\nkey = "k"\n[auth]\npasswd_file = "p"\n[mail]\nmaildir = "m"\n',
    "bad_toml": b'[server\nlisten = [\n"x" = \n',
    "duration_value": b"90s",
    "endpoint_value": b"[::1]:110",
    "size_value": b"64K",
}

# ---- fuzz_pop3_client: 3 header bytes (options, engine, block size) + what
# the server sends. options: bits 0-1 TLS (0 implicit, 1 starttls, 2 none),
# bits 2-4 mechanism (0 auto, 1 user, 2 plain, 3 login, 4 apop, 5 xoauth2,
# 6 oauthbearer), 0x20 pipeline window 2. engine: 1 delete after RETR,
# 2 quit without retrieving.
def client(opts: int, engine: int, block: int, replies) -> bytes:
    return bytes([opts, engine, block]) + b"".join(r + b"\r\n" for r in replies)


CAPA_FULL = [b"+OK Capability list follows", b"TOP", b"UIDL", b"USER", b"PIPELINING",
             b"SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER", b"RESP-CODES", b"STLS", b"."]
LISTING = [b"+OK", b"1 uid-one", b"2 uid-two", b".", b"+OK 2 messages", b"1 52", b"2 18", b"."]
CLIENT = {
    "implicit_auto_plain_retr_dele": client(0x00, 1, 0, [
        b"+OK POP3 ready <1896.697170952@pop.test>", *CAPA_FULL, b"+OK Logged in.", *LISTING,
        b"+OK 52 octets", b"Subject: one", b"", b"..dotted line", b"body", b".", b"+OK deleted",
        b"+OK 18 octets", b"Subject: two", b"", b".", b"-ERR [SYS/TEMP] cannot delete",
        b"+OK bye"]),
    "implicit_user_pass_no_capa": client(0x04, 0, 0, [
        b"+OK hello", b"-ERR unknown command", b"+OK", b"+OK", b"+OK", b"1 a", b".",
        b"+OK", b"1 5", b".", b"-ERR [IN-USE] message locked", b"-ERR quit failed"]),
    "starttls_then_login_mechanism": client(0x0d, 0, 1, [
        b"+OK ready", *CAPA_FULL, b"+OK begin TLS", *CAPA_FULL[:-2], b".",
        b"+ VXNlcm5hbWU6", b"+ UGFzc3dvcmQ6", b"+OK welcome", b"+OK", b".", b"+OK 0", b".",
        b"+OK bye"]),
    "starttls_refused": client(0x01, 0, 0, [b"+OK ready", b"+OK", b"USER", b".", b"-ERR no TLS"]),
    "no_tls_apop": client(0x12, 2, 0, [
        b"+OK ready <123.456@host>", b"-ERR", b"+OK maildrop locked", *LISTING, b"+OK"]),
    "xoauth2_error_json": client(0x14, 0, 0, [
        b"+OK", *CAPA_FULL, b"+ ", b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=",
        b"-ERR [AUTH] invalid token"]),
    "oauthbearer_ok_pipelined": client(0x38, 1, 7, [
        b"+OK", *CAPA_FULL, b"+ ", b"+OK", *LISTING, b"+OK 52 octets", b"x", b".",
        b"+OK", b"+OK 18 octets", b"y", b".", b"+OK", b"+OK"]),
    "greeting_refused": client(0x00, 0, 0, [b"-ERR [SYS/TEMP] too busy"]),
    "garbage_and_bare_lf": bytes([0x00, 0, 3]) + b"+OK hi\n+OK\nSASL PLAIN\n.\n+OK\n"
        b"+OK\n1 u\n1 v\n.\n+OK\n.\n",
    "body_split_terminator": client(0x00, 0, 2, [
        b"+OK", b"-ERR", b"+OK", b"+OK", b"7 x", b".", b"+OK", b"7 3", b".", b"+OK",
        b"a", b".b", b"..", b".", b"+OK"]),
}

# ---- fuzz_lmtp_session: 2 header bytes (lookup/options, delivery result) +
# what the LMTP client sends. A recipient ending in a digit d gets lookup
# result d % 4 (0 ok, 1 unknown, 2 over quota, 3 temporary), except '1'-'3',
# which get byte 0 & 3. Byte 0: 4 quota temporary, 8 max_message_size 64.
def lmtp(opts: int, result: int, lines) -> bytes:
    return bytes([opts, result]) + b"".join(l + b"\r\n" for l in lines)


LMTP = {
    # limits::max_line is 8192: needs -max_len past it (scripts/fuzz).
    "line_too_long": lmtp(0, 0, [
        b"LHLO mx.example.com", b"MAIL FROM:<" + b"s" * 8200 + b"@example.org>"]),
    "two_recipients": lmtp(0, 0, [
        b"LHLO mx.example.com", b"MAIL FROM:<sender@example.org> SIZE=120 BODY=8BITMIME",
        b"RCPT TO:<alice@example.com>", b"RCPT TO:<bob@example.com5>", b"RCPT TO:<carol8>",
        b"DATA", b"From: sender@example.org", b"Subject: hi", b"", b"..dot", b"body", b".",
        b"QUIT"]),
    "errors_and_rset": lmtp(0x05, 3, [
        b"HELO x", b"MAIL FROM:<a>", b"LHLO", b"LHLO x", b"RCPT TO:<b>", b"MAIL FROM:a",
        b"MAIL FROM:<>", b"MAIL FROM:<x>", b"RCPT TO:<>", b"RCPT TO:<a b>", b"RCPT TO:<c1> X=1",
        b"DATA", b"DATA x", b"RSET", b"NOOP", b"VRFY a", b"BDAT 10", b"EHLO x", b"QUIT"]),
    "size_limits": lmtp(0x0a, 2, [
        b"LHLO x", b"MAIL FROM:<a> SIZE=99999999999999999999", b"MAIL FROM:<a> SIZE=65",
        b"MAIL FROM:<a> SIZE=10 BODY=7BIT", b"RCPT TO:<u2>", b"RCPT TO:<u0>", b"DATA",
        b"x" * 100, b".", b"MAIL FROM:<b>", b"RCPT TO:<v0>", b"DATA", b"short", b".",
        b"QUIT"]),
    "pipelined_bare_lf": bytes([0, 1]) + b"LHLO a\nMAIL FROM:<s>\nRCPT TO:<r0>\nDATA\n"
        b"line\n.\nQUIT\n",
    "hangup_in_body": lmtp(0, 0, [b"LHLO a", b"MAIL FROM:<s>", b"RCPT TO:<r0>", b"DATA", b"part"]),
}

# ---- fuzz_scram: 1 option byte (1 -PLUS, 2 tls-exporter link, 4 tls-unique
# link), then client-first, LF, client-final.
def scram(opts: int, first: bytes, final: bytes) -> bytes:
    return bytes([opts]) + first + b"\n" + final


SCRAM = {
    "rfc7677": scram(0, SCRAM_FIRST, SCRAM_FINAL),
    "rfc7677_wrong_proof": scram(0, SCRAM_FIRST, SCRAM_FINAL[:-4] + b"AAA="),
    "plus_exporter": scram(3, b"p=tls-exporter,,n=user,r=abc",
                           b"c=" + b64(b"p=tls-exporter,," + b"b" * 32) +
                           b",r=abc%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA"),
    "plus_unique_wrong_type": scram(3, b"p=tls-unique,,n=user,r=abc", b"c=biws,r=abc,p=AAAA"),
    "y_flag_downgrade": scram(2, b"y,,n=user,r=abc", b"c=eSws,r=abc,p=AAAA"),
    "authzid_escapes": scram(0, b"n,a=a=2Cb=3D,n=a=2Cb=3D,r=x", b"c=bixhPWE9MkNiPTNELA==,r=x,p=AA=="),
    "extensions": scram(0, b"n,,m=x,n=u,r=1", b"c=biws,r=1,e=x,p=AAAA"),
    "first_ext": scram(4, b"n,,n=u,r=1,x=y", b"c=biws,r=1"),
}


# ---- fuzz_jwt: 1 mode byte (0 token, 1 OAUTHBEARER, 2 XOAUTH2, 3 JWKS,
# 4 PEM, 5 claims JSON) + the input.
def b64url(s: bytes) -> bytes:
    return base64.urlsafe_b64encode(s).rstrip(b"=")


CLAIMS = (b'{"iss":"https://idp.example.com","aud":["x","pop3"],"exp":1800000600,'
          b'"nbf":1799999000,"email":"alice@example.com"}')


def jwt(header: bytes, claims: bytes = CLAIMS, sig: bytes = b"\x01" * 64) -> bytes:
    return b".".join([b64url(header), b64url(claims), b64url(sig)])


JWT = {
    "es256_kid": b"\0" + jwt(b'{"alg":"ES256","kid":"ec-1"}'),
    "rs256": b"\0" + jwt(b'{"alg":"RS256","typ":"JWT"}', sig=b"\x02" * 256),
    "alg_none": b"\0" + jwt(b'{"alg":"none"}', sig=b""),
    "hs256": b"\0" + jwt(b'{"alg":"HS256"}', sig=b"\x03" * 32),
    "crit": b"\0" + jwt(b'{"alg":"ES256","crit":["b64"]}'),
    "bad_base64": b"\0eyJhbGciOiJFUzI1NiJ9=.e30.AA",
    "oauthbearer": b"\1n,a=alice@example.com,\x01host=pop.test\x01port=110\x01"
                   b"auth=Bearer " + jwt(b'{"alg":"ES256"}') + b"\x01\x01",
    "oauthbearer_escaped": b"\1y,a=a=2Cb=3D,\x01auth=bearer  t0k==\x01\x01",
    "xoauth2": b"\2user=alice@example.com\x01auth=Bearer ya29.a0Af\x01\x01",
    "jwks": b"\3" + (b'{"keys":[{"kty":"oct","k":"AA"},{"kty":"EC","kid":"e","crv":"P-256",'
                      b'"x":"' + b64url(b"\x01" * 32) + b'","y":"' + b64url(b"\x02" * 32) +
                      b'"},{"kty":"RSA","use":"sig","alg":"RS256","n":"' +
                      b64url(b"\xc1" * 256) + b'","e":"AQAB"}]}'),
    "pem": b"\4-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
           b"-----END PUBLIC KEY-----\n",
    "claims": b"\5" + CLAIMS,
    "claims_expired": b"\5" + CLAIMS.replace(b"1800000600", b"1700000000"),
}

# ---- store file parsers: the files other servers and popbox leave in a Maildir.
DOVECOT = {
    "v3_full": b"3 V1795447793 N6 G7e3fa312f15b046b9206000083ecc375\n"
        b"1 W22 :170000000.M0P1.host,S=19\n"
        b"2 G7e3fa312f15b046b9206000083ecc375 :170000001.M1P1.host,S=20:2,S\n"
        b"3 P00000003xyz W30 :170000002.M2P1.host\n"
        b"4 P :170000003.M3P1.host:2,RS\n"
        b"5 Xunknown G00 P0000000500000001 :170000004.M4P1.host,S=5,W=6\n",
    "v1": b"1 1120000000 3\n1 a.host:2,S\n2 b.host\n",
    "crlf_and_torn": b"3 V5 N5 Xx\r\n1 :a\r\n2 :b/c\n0 :zero\n4294967295 :max\n3  :c\n4 :d",
    "bad_header": b"3 V99999999999 N5\n1 :a\n",
    "duplicate_base": b"3 V1 N9\n1 P1 :same\n2 P2 :same\n3 :.dot\n",
}
COURIER = {
    "v3": b"/3 5 1120000000\n1170000000.M0P1.host,S=19:2,S 19 1:1120000000\n"
        b"name with spaces 7 2:1120000000:1\n",
    "v2_no_uidv": b"/2 3\n1170000000.M0P1.host 100 1:0\nb.host 5 2:0\n",
    "bad_lines": b"/3 9 7\nx 1 0:7\n y 1 1:7\nz 1 1:7:\nq 99999999999999999999 1:7\n"
        b"w 1 1:7:1:1\r\nv 2 3:\ntorn 1 4:7",
    "bad_header": b"/4 1\nx 1 1:1\n",
}
UIDL_RECORD = {
    "closed": b"popbox-uidls 1\nu UID1-1120000000 1170000000.M0P1.host,S=19\n"
        b"u 00000002deadbeef b%20with%25escapes%0A\nclosed 1790000000\n",
    "open_torn": b"popbox-uidls 1\nu X-1 a\nu X-2 b\nu X-3 c",
    "bad_lines": b"popbox-uidls 2\nu  a\nu toolong" + b"x" * 70 + b" b\nu ok %zz\nu ok .dot\n"
        b"u ok a:b\nu ok %41\nu ok\nv x y\nu dup a\nu dup2 a\n",
    "no_header": b"u A a\r\nclosed x\n",
}
# Mode byte 3: the harness appends a correct trailer; 0: as is.
INDEX_BODY = (b"popbox-index 1\n19 1700000000000000000 21 1170000000.M0P1.host,S=19\n"
              b"0 -5 2 empty%20name\n5 0 12 b%0Ac\n")
INDEX = {
    "forged_trailer": b"\x03\x00" + INDEX_BODY,
    "wrong_count": b"\x01\x07" + INDEX_BODY,
    "as_is": b"\x00\x00popbox-index 1\nend 0 "
        + format(0xcbf29ce484222325 ^ 0, "016x").encode() + b"\n",
    "bad_sizes": b"\x03\x00popbox-index 1\n10 0 9 a\n10 0 23 b\n18446744073709551615 0 0 c\n"
        b"1 2 3 %2e\n1 2 3\n",
}
NAME = {
    "typical": b"1170000000.M0P1.host,S=19,W=21:2,FRS\n1170000001.M1P1.host\n"
        b"1170000002.M2P1.host:2,\n.hidden\n\nx:1,foo\nx:2,ZAS\n",
    "hints_and_long": b"S=5,S=6\na,S=1,W=\na,,W=9\n" + b"y" * 80 + b",S=1\n" + b"z" * 70 + b"\n",
    "collisions": b"a,S=1\na,S=2\na\na-2\na,W=3:2,S\n" + b"q" * 69 + b",S=1\n" + b"q" * 69 + b"\n",
    "control_bytes": b"a b\na\x00b\n\xff\xfe\nH" + b"0" * 40 + b"\n",
}
XUIDL = {
    "simple": b"\x00From: a@example.org\r\nX-UIDL: 00000001abc\r\nSubject: x\r\n\r\nbody\r\n",
    "folded_split": b"\x0ax-uidl :  part1\r\n\tpart2 \r\nX-UIDL: second\n\nbody",
    "no_body": b"\x02Subject: x\nX-UIDL: last",
    "near_cut": b"\x03X-UIDL: over the edge\r\nmore: header\r\n\r\n",
    "blank_first": b"\x00\r\nX-UIDL: in body\r\n",
}


if __name__ == "__main__":
    write("fuzz_scram", SCRAM)
    write("fuzz_lmtp_session", LMTP)
    write("fuzz_pop3_client", CLIENT)
    write("fuzz_session", SESSION)
    write("fuzz_dot_codec", DOT)
    write("fuzz_passwd_file", PASSWD)
    write("fuzz_config", CONFIG)
    write("fuzz_jwt", JWT)

    write("fuzz_dovecot_uidlist", DOVECOT)
    write("fuzz_courier_sizelist", COURIER)
    write("fuzz_uidl_record", UIDL_RECORD)
    write("fuzz_maildir_index", INDEX)
    write("fuzz_maildir_name", NAME)
    write("fuzz_x_uidl", XUIDL)
