import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import forge from 'node-forge';

export interface TlsFiles {
  cert: string;
  key: string;
}

/**
 * The API's certificate: the one given (DBM_TLS_CERT, DBM_TLS_KEY), or a
 * self-signed one for localhost made once with node-forge and kept under the
 * data directory's secrets.
 */
export function tlsCertificate(secretsDir: string, given?: { certFile?: string; keyFile?: string }): TlsFiles & { selfSigned: boolean; certFile: string } {
  if (given?.certFile || given?.keyFile) {
    if (!given.certFile || !given.keyFile) throw new Error('TLS needs both DBM_TLS_CERT and DBM_TLS_KEY');
    return { cert: readFileSync(given.certFile, 'utf8'), key: readFileSync(given.keyFile, 'utf8'), selfSigned: false, certFile: given.certFile };
  }
  const certFile = path.join(secretsDir, 'tls-cert.pem');
  const keyFile = path.join(secretsDir, 'tls-key.pem');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 825 * 86_400_000);
    const subject = [{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'data-backup-manager' }];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    writeFileSync(keyFile, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    writeFileSync(certFile, forge.pki.certificateToPem(cert), { mode: 0o644 });
  }
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), selfSigned: true, certFile };
}
