import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { addPassphraseKey, addRecoveryKey, generateRecoveryKeyPair, removeKey, rotateKeys } from '../../engine';
import { UsageError } from '../exitCodes';
import { printJson, table } from '../output';
import { flagsOf, lockWaitMs, openRepo, passphraseFrom } from './context';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

export function registerKey(repo: Command): void {
  const key = repo.command('key').description('manage the key slots that open the repository');

  key
    .command('list')
    .option('--json', 'print JSON')
    .action(async (_opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const slots = await repository.listSlots();
      if (flags.json) {
        printJson(slots.map((s) => ({ id: s.id, type: s.type, label: s.label, created: s.created, hostname: s.hostname, current: s.id === repository.slot.id, fingerprint: s.rsa?.fingerprint })));
        return;
      }
      const rows = slots.map((s) => [(s.id === repository.slot.id ? '*' : ' ') + s.id.slice(0, 8), s.type, s.label, s.created.slice(0, 19), s.hostname]);
      process.stdout.write(`${table([' ID', 'TYPE', 'LABEL', 'CREATED', 'HOST'], rows)}\n`);
    });

  key
    .command('add')
    .description('add a passphrase slot, or an RSA recovery slot')
    .option('--new-passphrase-file <file>', 'the new passphrase')
    .option('--rsa-public-key <pem-file>', 'wrap the keys for this RSA public key (offline recovery key)')
    .option('--generate-recovery-key <pem-file>', 'make a new RSA key pair, add its slot, write the private key here')
    .option('--label <text>', 'a label for the slot')
    .action(async (opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const chosen = [opts.newPassphraseFile, opts.rsaPublicKey, opts.generateRecoveryKey].filter(Boolean).length;
      if (chosen !== 1) throw new UsageError('give one of --new-passphrase-file, --rsa-public-key, --generate-recovery-key');
      const repository = await openRepo(flags);
      let id: string;
      if (opts.newPassphraseFile) {
        id = (await addPassphraseKey(repository, readText(opts.newPassphraseFile, 'passphrase file'), opts.label)).id;
      } else if (opts.rsaPublicKey) {
        id = (await addRecoveryKey(repository, readText(opts.rsaPublicKey, 'public key'), opts.label)).id;
      } else {
        const pair = generateRecoveryKeyPair();
        writeFileSync(opts.generateRecoveryKey, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
        id = (await addRecoveryKey(repository, pair.publicKeyPem, opts.label)).id;
        process.stderr.write(`recovery private key written to ${opts.generateRecoveryKey}: store it offline\n`);
      }
      process.stdout.write(`added key slot ${id.slice(0, 8)}\n`);
    });

  key
    .command('remove')
    .argument('<id>', 'slot id or prefix')
    .action(async (id: string, _opts, cmd: Command) => {
      const repository = await openRepo(flagsOf(cmd));
      const slot = await removeKey(repository, id);
      process.stdout.write(`removed key slot ${slot.id.slice(0, 8)} (${slot.type})\n`);
    });

  key
    .command('rotate')
    .description('start a new data-key epoch and re-wrap the slots; other passphrase slots are removed')
    .option('--new-passphrase-file <file>', 'use this passphrase from now on (default: keep the current one)')
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      const repository = await openRepo(flags);
      const passphrase = opts.newPassphraseFile ? readText(opts.newPassphraseFile, 'passphrase file') : passphraseFrom(flags);
      const result = await rotateKeys(repository, passphrase!, { lockWaitMs: lockWaitMs(flags) });
      if (flags.json) {
        printJson({ epoch: result.epoch, slots: result.rewrapped.map((s) => s.id), removed: result.removed.map((s) => s.id) });
        return;
      }
      process.stdout.write(`new data-key epoch ${result.epoch}; ${result.rewrapped.length} slots re-wrapped\n`);
      for (const s of result.removed) process.stdout.write(`removed passphrase slot ${s.id.slice(0, 8)} (${s.label}): add it again with 'repo key add'\n`);
    });
}
