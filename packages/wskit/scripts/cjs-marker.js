// Marks the CommonJS build as CommonJS: the package is "type": "module", so
// without this package.json Node would load dist/cjs/*.js as ES modules.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

writeFileSync(join(process.argv[2] ?? 'dist/cjs', 'package.json'), '{ "type": "commonjs" }\n');
