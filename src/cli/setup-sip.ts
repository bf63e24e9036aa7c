/**
 * `npm run setup:sip` (`-- --dry-run` to only look): makes LiveKit ring the agent when a Vobiz number is
 * called — creates or updates the inbound trunk and the dispatch rule (`src/telephony/sip-setup.ts`),
 * printing one line per object. Exit codes: 0 done, 1 LiveKit refused or failed, 2 bad option or settings.
 */
import { settingsOrExit } from '../config.js';
import { describeFailure, loadSetupSipSettings, setupSip } from '../telephony/sip-setup.js';

const PROGRAM = 'setup:sip';

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== '--dry-run');
  if (unknown.length) {
    process.stderr.write(`${PROGRAM}: unknown option ${unknown.join(' ')} (usage: npm run setup:sip [-- --dry-run])\n`);
    process.exit(2);
  }
  const settings = settingsOrExit(PROGRAM, () => loadSetupSipSettings());
  const dryRun = argv.includes('--dry-run');
  try {
    await setupSip(settings, { dryRun });
    if (dryRun) process.stdout.write('dry run: nothing was changed\n');
  } catch (err) {
    process.stderr.write(`${PROGRAM}: ${describeFailure(err, settings)}\n`);
    process.exit(1);
  }
}

void main(process.argv.slice(2));
