#!/usr/bin/env python3
"""Writes the PSKC fixtures of this folder with python-pskc, an implementation of RFC 6030 that
pooya does not share code with, and the codes their tokens show with oathtool (OATH Toolkit) and
python-stdnum's Luhn digit, so that pooya's import is checked against other people's reading of
the RFC. CI needs none of this: the files it writes are committed.

    python3 -m venv /tmp/pskc && /tmp/pskc/bin/pip install python-pskc==1.4 python-stdnum
    apt-get install oathtool
    /tmp/pskc/bin/python make_fixtures.py      # in this folder

Encrypted files get fresh random IVs, MAC keys and salts on every run; the keys, policies and
codes stay the same.

codes.tsv: file, serial, "counter=N" (HOTP) or "unix=S" (TOTP, the validation server's clock),
the code the token shows then.
"""

import datetime
import subprocess

import pskc
from stdnum import luhn

HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp'
TOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:totp'
PIN = 'urn:ietf:params:xml:ns:keyprov:pskc:pin'

# RFC 4226 Appendix D and RFC 6238 Appendix B test secrets.
SHA1_SECRET = b'12345678901234567890'
SHA256_SECRET = b'12345678901234567890123456789012'
SHA512_SECRET = SHA256_SECRET * 2

# The pre-shared key and password the encrypted files use.
PSK = bytes.fromhex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
PASSWORD = 'correct horse battery'

# Validation server times the TOTP codes are written for.
TIMES = [1_700_000_000, 2_000_000_000]

UTC = datetime.timezone.utc
codes = []


def oathtool(*args):
    return subprocess.run(['oathtool', *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def hotp_codes(name, serial, secret, counters, digits, check=False):
    for c in counters:
        code = oathtool('--hotp', '-c', str(c), '-d', str(digits - check), secret.hex())
        if check:
            code += luhn.calc_check_digit(code)
        codes.append((name, serial, 'counter=%d' % c, code))


def totp_codes(name, serial, secret, hash_, step, digits, drift=0, check=False):
    for t in TIMES:
        # The token's clock runs `drift` steps from the server's (RFC 6030 §4.3.2: the server
        # records -1 for a device one step behind).
        shown_at = t + drift * step
        code = oathtool('--totp=' + hash_, '-s', '%ds' % step, '-d', str(digits - check),
                        '-N', '@%d' % shown_at, secret.hex())
        if check:
            code += luhn.calc_check_digit(code)
        codes.append((name, serial, 'unix=%d' % t, code))


def new():
    return pskc.PSKC()


def hotp_key(p, serial, **kw):
    kw.setdefault('secret', SHA1_SECRET)
    kw.setdefault('counter', 0)
    kw.setdefault('response_length', 6)
    return p.add_key(id='K-' + serial, serial=serial, manufacturer='oath.ZZ', algorithm=HOTP,
                     response_encoding='DECIMAL', **kw)


def totp_key(p, serial, **kw):
    kw.setdefault('secret', SHA1_SECRET)
    kw.setdefault('time_interval', 30)
    kw.setdefault('response_length', 6)
    return p.add_key(id='K-' + serial, serial=serial, manufacturer='oath.ZZ', algorithm=TOTP,
                     response_encoding='DECIMAL', **kw)


def write(p, name):
    p.write(name)


# ---------------------------------------------------------------- imported, codes cross-checked

p = new()
hotp_key(p, 'HOTP-1', counter=7)
totp_key(p, 'TOTP-256', secret=SHA256_SECRET, algorithm_suite='HMAC-SHA256', time_interval=60,
         response_length=8)
totp_key(p, 'TOTP-512', secret=SHA512_SECRET, algorithm_suite='HMAC-SHA512', response_length=7)
write(p, 'plain-many.xml')
hotp_codes('plain-many.xml', 'HOTP-1', SHA1_SECRET, [7, 8, 100], 6)
totp_codes('plain-many.xml', 'TOTP-256', SHA256_SECRET, 'sha256', 60, 8)
totp_codes('plain-many.xml', 'TOTP-512', SHA512_SECRET, 'sha512', 30, 7)

p = new()
hotp_key(p, 'PSK-1', counter=3, response_length=8)
p.encryption.setup_preshared_key(key=PSK, algorithm='aes256-cbc', key_name='Pre-shared-1')
p.mac.setup(algorithm='hmac-sha512')
write(p, 'psk-aes256-hmac-sha512.xml')
hotp_codes('psk-aes256-hmac-sha512.xml', 'PSK-1', SHA1_SECRET, [3], 8)

p = new()
totp_key(p, 'PBKDF2-1')
p.encryption.setup_pbkdf2(PASSWORD, algorithm='aes128-cbc', iterations=2000,
                          prf='hmac-sha256')
write(p, 'pbkdf2-hmac-sha256.xml')
totp_codes('pbkdf2-hmac-sha256.xml', 'PBKDF2-1', SHA1_SECRET, 'sha1', 30, 6)

p = new()
hotp_key(p, 'CHECK-HOTP', response_length=7, response_check=True)
totp_key(p, 'CHECK-TOTP', response_length=9, response_check=True)
write(p, 'check-digits.xml')
hotp_codes('check-digits.xml', 'CHECK-HOTP', SHA1_SECRET, [0, 1, 2], 7, check=True)
totp_codes('check-digits.xml', 'CHECK-TOTP', SHA1_SECRET, 'sha1', 30, 9, check=True)

p = new()
totp_key(p, 'DRIFT-BEHIND', time_drift=-2)
totp_key(p, 'DRIFT-AHEAD', time_drift=3, time_interval=60)
write(p, 'time-drift.xml')
totp_codes('time-drift.xml', 'DRIFT-BEHIND', SHA1_SECRET, 'sha1', 30, 6, drift=-2)
totp_codes('time-drift.xml', 'DRIFT-AHEAD', SHA1_SECRET, 'sha1', 60, 6, drift=3)

# ---------------------------------------------------------------- imported, with a policy

p = new()
totp_key(p, 'DATES', policy__start_date=datetime.datetime(2020, 1, 1, tzinfo=UTC),
         policy__expiry_date=datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
         policy__key_usage=['OTP'])
write(p, 'policy-dates.xml')

p = new()
hotp_key(p, 'EXPIRED', policy__expiry_date=datetime.datetime(2021, 6, 30, tzinfo=UTC))
write(p, 'policy-expired.xml')

p = new()
hotp_key(p, 'NOT-YET', policy__start_date=datetime.datetime(
    2099, 1, 1, 12, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3, minutes=30))))
write(p, 'policy-not-yet-valid.xml')

p = new()
hotp_key(p, 'DEVICE-DATES', start_date=datetime.datetime(2019, 3, 1, tzinfo=UTC),
         expiry_date=datetime.datetime(2030, 3, 1, tzinfo=UTC),
         policy__expiry_date=datetime.datetime(2040, 1, 1, tzinfo=UTC))
write(p, 'device-dates.xml')

p = new()
hotp_key(p, 'OTP-CR', policy__key_usage=['OTP', 'CR'])
write(p, 'policy-usage-otp-cr.xml')

p = new()
hotp_key(p, 'TXN-2', policy__number_of_transactions=2)
write(p, 'policy-transactions.xml')

p = new()
pin = p.add_key(id='PIN-1', serial='PIN-LOCAL', algorithm=PIN, secret=b'1234',
                response_encoding='DECIMAL', response_length=4)
hotp_key(p, 'PIN-LOCAL', policy__pin_key_id='PIN-1', policy__pin_usage='Local',
         policy__pin_max_failed_attempts=3)
write(p, 'policy-pin-local.xml')

# ---------------------------------------------------------------- refused

p = new()
hotp_key(p, 'CR-ONLY', policy__key_usage=['CR'])
write(p, 'policy-usage-cr.xml')

p = new()
p.add_key(id='PIN-2', serial='PIN-PREPEND', algorithm=PIN, secret=b'1234',
          response_encoding='DECIMAL', response_length=4)
hotp_key(p, 'PIN-PREPEND', policy__pin_key_id='PIN-2', policy__pin_usage='Prepend')
write(p, 'policy-pin-prepend.xml')

p = new()
hotp_key(p, 'GOOD')
hotp_key(p, 'ALGORITHMIC', policy__pin_usage='Algorithmic', policy__pin_min_length=4)
write(p, 'policy-pin-algorithmic-second.xml')

p = new()
totp_key(p, 'TIME-ORIGIN', time_offset=1000)
write(p, 'time-origin.xml')

p = new()
hotp_key(p, 'NAIVE-DATE', policy__expiry_date=datetime.datetime(2099, 1, 1))
write(p, 'policy-date-without-zone.xml')

p = new()
hotp_key(p, 'KW-AES128')
p.encryption.setup_preshared_key(key=PSK[:16], algorithm='kw-aes128', key_name='Pre-shared-1')
write(p, 'kw-aes128.xml')

p = new()
hotp_key(p, 'TDES')
p.encryption.setup_preshared_key(key=PSK[:24], algorithm='tripledes-cbc', key_name='Pre-shared-1')
write(p, 'tripledes-cbc.xml')

p = new()
hotp_key(p, 'PRF-MD5')
p.encryption.setup_pbkdf2(PASSWORD, algorithm='aes128-cbc', iterations=2000, prf='hmac-md5')
write(p, 'pbkdf2-hmac-md5.xml')

p = new()
hotp_key(p, 'ENC-COUNTER', counter=9)
p.encryption.setup_preshared_key(key=PSK[:16], algorithm='aes128-cbc', key_name='Pre-shared-1',
                                 fields=['secret', 'counter'])
write(p, 'encrypted-counter.xml')

with open('codes.tsv', 'w') as f:
    f.write('# file\tserial\twhen\tcode (written by make_fixtures.py)\n')
    for row in codes:
        f.write('\t'.join(row) + '\n')
