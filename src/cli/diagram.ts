/** `npm run diagram`: prints the routing statechart as Mermaid, generated from the machine itself. */
import { toMermaid } from '../../machines/derive.js';

process.stdout.write(`${toMermaid()}\n`);
