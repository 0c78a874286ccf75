# Regenerate with: python3 testdata/vectors.py > testdata/vectors.json
# Independent implementation of the key format spec, used once to write
# testdata/vectors.json (known-answer tests).
import base64, hashlib, json, zlib
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n, w):
    s = ""
    for _ in range(w):
        s = A[n % 62] + s; n //= 62
    assert n == 0
    return s
def make(name, env, stream):
    body = ""
    for b in stream:
        if b >= 248: continue
        body += A[b % 62]
        if len(body) == 32: break
    assert len(body) == 32
    head = f"sh_{env}_{body}"
    key = head + b62(zlib.crc32(head.encode()), 6)
    h = hashlib.sha256(key.encode()).digest()
    return dict(name=name, env=env, randHex=bytes(stream).hex(), key=key,
                hash=h.hex(), id="key_" + base64.b32encode(h[:10]).decode().lower(),
                displayPrefix=key[:len(env)+8] + "…")
def prng(seed, n):
    out = b""; i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{i}".encode()).digest(); i += 1
    return list(out[:n])
v = [
  make("dev from a hash stream", "dev", prng("dev", 40)),
  make("prod from bytes 0..39", "prod", list(range(40))),
  make("staging needing a second read", "staging", [250]*9 + list(range(100, 131)) + prng("stg", 40)),
  make("longest env, all max accepted byte", "a123456789abcdef", [247]*40),
  make("shortest env, discarded bytes interleaved", "qa", [255, 0, 248, 61, 249, 62, 123, 185, 186] * 8 + [1, 2, 3, 4, 5, 6, 7, 8]),
]
for x in v: assert len(bytes.fromhex(x["randHex"])) % 40 == 0, x["name"]
print(json.dumps(v, indent=2, ensure_ascii=False))
