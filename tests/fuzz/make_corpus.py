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
# more:    1 EXPIRE NEVER, 2 EXPIRE 0, 3 EXPIRE 30, 4 LOGIN-DELAY, 8 plaintext after STLS
# A secret ending in 0-3 logs in; 4 bad credentials, 5 in use, 6 delay, 7 temp failure.
def session(opts: int, more: int, block: int, lines) -> bytes:
    return bytes([opts, more, block]) + b"".join(l + b"\r\n" for l in lines)


PLAIN_OK = b64(b"\0alice\0secret0")
SESSION = {
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
    "decode_lenient": b"\2\0\x21a\n.\n",
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

if __name__ == "__main__":
    write("fuzz_session", SESSION)
    write("fuzz_dot_codec", DOT)
    write("fuzz_passwd_file", PASSWD)
    write("fuzz_config", CONFIG)
