// src/web/sha256.js: SHA-256 in plain JavaScript, fed slice by slice (Chat.Sha256), with which
// the page hashes a file before offering it and the bytes it receives; window.chatSha256 lets the
// browser test compare it with node's.
'use strict';

(() => {
  const C = window.Chat;

  // Incremental SHA-256 in plain JavaScript. crypto.subtle exists only in secure contexts
  // (https, or localhost): a chat server on a LAN served over plain http has none, and
  // subtle.digest needs the whole file in memory anyway. This one hashes slice by slice.
  // Int32Array, not Uint32Array: V8 keeps 32-bit signed values as small integers, while
  // unsigned ones above 2^31 become doubles (about 5 times slower here).
  const K256 = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  class Sha256 {
    constructor() {
      this.h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.buf = new Uint8Array(64);
      this.bufLen = 0;
      this.len = 0; // bytes hashed so far
      this.w = new Int32Array(64);
    }
    clone() {
      const c = new Sha256();
      c.h.set(this.h); c.buf.set(this.buf); c.bufLen = this.bufLen; c.len = this.len;
      return c;
    }
    block(d, o) {
      const w = this.w;
      const h = this.h;
      for (let i = 0; i < 16; i++) w[i] = (d[o + 4 * i] << 24) | (d[o + 4 * i + 1] << 16) | (d[o + 4 * i + 2] << 8) | d[o + 4 * i + 3];
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15];
        const b = w[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let A = h[0]; let B = h[1]; let C = h[2]; let D = h[3];
      let E = h[4]; let F = h[5]; let G = h[6]; let H = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        const ch = (E & F) ^ (~E & G);
        const t1 = (H + S1 + ch + K256[i] + w[i]) | 0;
        const S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        const maj = (A & B) ^ (A & C) ^ (B & C);
        const t2 = (S0 + maj) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
    update(data) {
      let i = 0;
      const n = data.length;
      this.len += n;
      if (this.bufLen) {
        while (i < n && this.bufLen < 64) this.buf[this.bufLen++] = data[i++];
        if (this.bufLen < 64) return this;
        this.block(this.buf, 0);
        this.bufLen = 0;
      }
      for (; i + 64 <= n; i += 64) this.block(data, i);
      while (i < n) this.buf[this.bufLen++] = data[i++];
      return this;
    }
    hex() {
      const c = this.clone();
      const bits = c.len * 8;
      const pad = new Uint8Array(((c.bufLen < 56 ? 56 : 120) - c.bufLen) + 8);
      pad[0] = 0x80;
      const dv = new DataView(pad.buffer);
      dv.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      dv.setUint32(pad.length - 4, bits >>> 0);
      c.update(pad);
      return Array.from(c.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    }
  }
  window.chatSha256 = (bytes) => new Sha256().update(bytes).hex(); // for the browser tests

  Object.assign(C, { Sha256 });
})();
