// Tokenizer benchmark (cl100k_base): builds a mixed ~10 MB corpus from Debian files, times diverge and npm tokenizers.
//
// Usage: node tokenizer_bench.mjs --diverge PATH --vocab PATH --work DIR --results FILE [--reps N] [--commit C]
// Run it pinned to one core (tokenizer_bench.sh does `taskset -c 0`): every repetition of every tokenizer is a
// fresh process, so caches start cold each time and no tokenizer keeps what an earlier run learned. Encoding time
// excludes loading the vocabulary and reading the file; ids are checked identical (count and SHA-256 of the stream).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILE_CAP = 16 * 1024;  // bytes taken from one file at most, so that no single file dominates its category

// What the corpus is made of: each category takes files in sorted order, spread evenly over the candidates, until
// its quota is met. All sources are files that Debian packages install.
const MATH_MAN_PAGES = /^(a?sinh?|a?cosh?|a?tanh?|atan2|cbrt|erfc?|exp2?|expm1|fma|frexp|hypot|j[01n]|ldexp|l?gamma|tgamma|log(2|10|1p)?|modf|nextafter|pow|remainder|sqrt|y[01n])\.3\.gz$/;
const CATEGORIES = [
  { name: 'prose (licences, copyright files, Debian changelogs)', quota: 3.0e6,
    files: () => [...list('/usr/share/common-licenses', () => true),
                  ...listDocs((n) => n === 'copyright'), ...listDocs((n) => n === 'changelog.Debian.gz')] },
  { name: 'code (C headers, Python standard library)', quota: 3.5e6,
    files: () => [...walk('/usr/include', (n) => n.endsWith('.h')), ...list('/usr/lib/python3.11', (n) => n.endsWith('.py'))] },
  { name: 'English man pages (troff)', quota: 1.5e6, files: () => list('/usr/share/man/man1', (n) => n.endsWith('.gz')) },
  { name: 'maths (libm man pages, NumPy numerics with LaTeX docstrings, Python numeric modules, TeX styles)',
    quota: 1.0e6,
    files: () => [...list('/usr/share/man/man3', (n) => MATH_MAN_PAGES.test(n)),
                  ...['polynomial', 'linalg', 'fft', 'lib'].flatMap((dir) =>
                    list(`/usr/lib/python3/dist-packages/numpy/${dir}`, (n) => n.endsWith('.py'))),
                  ...['statistics.py', 'fractions.py', '_pydecimal.py', 'random.py', 'numbers.py']
                    .map((n) => `/usr/lib/python3.11/${n}`),
                  ...walk('/usr/share/texmf', (n) => n.endsWith('.sty') || n.endsWith('.tex'))] },
  { name: 'Cyrillic and CJK man pages (ru, uk, zh_CN, zh_TW, ja, ko)', quota: 1.0e6,
    files: () => ['ru', 'uk', 'zh_CN', 'zh_TW', 'ja', 'ko'].flatMap((lang) => walk(`/usr/share/man/${lang}`, (n) => n.endsWith('.gz'))) },
];

function fail(message) {
  console.error(`tokenizer_bench: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { reps: 5, commit: 'unknown' };
  const names = { '--diverge': 'diverge', '--vocab': 'vocab', '--work': 'work', '--results': 'results',
                  '--reps': 'reps', '--commit': 'commit', '--run': 'run', '--corpus': 'corpus' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) fail(`bad argument ${argv[i]}`);
    args[key] = key === 'reps' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return args;
}

function exists(path) {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function list(dir, keep) {
  if (!exists(dir)) return [];
  return readdirSync(dir).filter(keep).sort().map((n) => join(dir, n)).filter((p) => statSync(p).isFile());
}

function walk(dir, keep) {
  if (!exists(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, keep));
    else if (entry.isFile() && keep(entry.name)) out.push(path);
  }
  return out;
}

function listDocs(keep) {
  return readdirSync('/usr/share/doc').sort().flatMap((pkg) => list(join('/usr/share/doc', pkg), keep));
}

// The file's text (gunzipped if needed), or null when it is not UTF-8 or names a special token: every tokenizer
// here must see the same characters and none may treat part of the text as special.
function fileText(path) {
  let bytes = readFileSync(path);
  if (path.endsWith('.gz')) bytes = gunzipSync(bytes);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  if (/<\|(endoftext|fim_prefix|fim_middle|fim_suffix|endofprompt)\|>/.test(text) || text.startsWith('\ufeff')) return null;
  return text;
}

// At most FILE_CAP bytes of text, cut at a line end.
function capped(text) {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= FILE_CAP) return text;
  const head = bytes.subarray(0, FILE_CAP);
  const cut = head.lastIndexOf(0x0a);
  return head.subarray(0, cut > 0 ? cut + 1 : head.length).toString('utf8');
}

function buildCategory(category) {
  const candidates = category.files();
  const parts = [];
  let size = 0;
  // Visit the candidates in an even spread (stride through the sorted list, then the ones skipped), so the quota is
  // drawn from all of them rather than from the first directories in sort order.
  const stride = Math.max(1, Math.floor(candidates.length / Math.max(1, Math.ceil(category.quota / FILE_CAP))));
  const order = [];
  for (let start = 0; start < stride; start++) for (let i = start; i < candidates.length; i += stride) order.push(candidates[i]);
  for (const path of order) {
    if (size >= category.quota) break;
    const text = fileText(path);
    if (text === null || text.trim() === '') continue;
    const part = capped(text);
    parts.push(part);
    size += Buffer.byteLength(part, 'utf8') + 2;
  }
  return { name: category.name, text: parts.join('\n\n'), files: parts.length };
}

function buildCorpus(workDir) {
  mkdirSync(workDir, { recursive: true });
  const built = CATEGORIES.map(buildCategory);
  const text = built.map((c) => c.text).join('\n\n');
  const path = join(workDir, 'mixed.txt');
  writeFileSync(path, text);
  const bytes = Buffer.byteLength(text, 'utf8');
  const composition = built.map((c) => ({ name: c.name, files: c.files, bytes: Buffer.byteLength(c.text, 'utf8') }));
  return { path, bytes, sha256: createHash('sha256').update(text).digest('hex'), composition };
}

function idsDigest(ids) {
  const words = Uint32Array.from(ids);
  return createHash('sha256').update(Buffer.from(words.buffer, words.byteOffset, words.byteLength)).digest('hex');
}

// The npm tokenizers, each as (load, encode). All give cl100k_base ids for ordinary text.
const NPM_TOKENIZERS = {
  'tiktoken-node': {
    label: 'tiktoken-node@0.0.7 (OpenAI tiktoken Rust core, native addon)',
    load: async () => {
      const { getEncoding } = (await import('tiktoken-node')).default;
      const encoding = getEncoding('cl100k_base');
      return (text) => encoding.encode(text);
    },
  },
  'tiktoken-wasm': {
    label: 'tiktoken@1.0.22 (OpenAI tiktoken Rust core, WebAssembly)',
    load: async () => {
      const { get_encoding } = (await import('tiktoken')).default;
      const encoding = get_encoding('cl100k_base');
      return (text) => encoding.encode_ordinary(text);
    },
  },
  'gpt-tokenizer': {
    label: 'gpt-tokenizer@4.0.0 (pure JavaScript)',
    load: async () => {
      const { encode } = await import('gpt-tokenizer/encoding/cl100k_base');
      return (text) => encode(text, { disallowedSpecial: new Set() });
    },
  },
};

// Child mode: one timed encoding of the corpus by one npm tokenizer, printed as JSON.
async function runOne(name, corpusPath) {
  const tokenizer = NPM_TOKENIZERS[name] ?? fail(`unknown tokenizer ${name}`);
  const loadStart = performance.now();
  const encode = await tokenizer.load();
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const text = readFileSync(corpusPath, 'utf8');
  const start = performance.now();
  const ids = encode(text);
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ load: loadSeconds, seconds, count: ids.length, digest: idsDigest(ids) }));
}

function npmRun(name, corpusPath) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--run', name, '--corpus', corpusPath],
                           { maxBuffer: 1 << 20 });
  return JSON.parse(out.toString());
}

function divergeRun(diverge, vocab, corpusPath) {
  const result = spawnSync(diverge, ['tokenize', '--tokenizer', vocab, '--file', corpusPath, '--count', '--stats']);
  if (result.status !== 0) fail(`diverge tokenize failed: ${result.stderr}`);
  const stats = result.stderr.toString();
  const load = /loaded in ([0-9.]+) s/.exec(stats);
  const encoded = /into ([0-9]+) tokens in ([0-9.]+) s/.exec(stats);
  if (!load || !encoded) fail(`unexpected --stats output from diverge: ${stats}`);
  return { load: Number(load[1]), seconds: Number(encoded[2]), count: Number(encoded[1]) };
}

function divergeDigest(diverge, vocab, corpusPath) {
  const out = execFileSync(diverge, ['tokenize', '--tokenizer', vocab, '--file', corpusPath], { maxBuffer: 1 << 30 });
  return idsDigest(JSON.parse(out.toString()));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function measure(label, reps, runOnce) {
  const runs = [];
  for (let r = 0; r < reps; r++) runs.push(runOnce());
  const result = { label, runs, load: median(runs.map((x) => x.load)), seconds: median(runs.map((x) => x.seconds)),
                   count: runs[0].count, digest: runs[0].digest };
  console.error(`${label}: median ${result.seconds.toFixed(3)} s encode, ${result.load.toFixed(3)} s load`);
  return result;
}

function tableRows(results, corpusBytes) {
  const ours = results[0];
  return results.map((r) => {
    const mbps = corpusBytes / 1e6 / r.seconds;
    const ratio = r === ours ? '1.00' : (r.seconds / ours.seconds).toFixed(2);
    const same = r.count === ours.count && r.digest === ours.digest ? 'yes' : 'NO';
    return `| ${r.label} | ${mbps.toFixed(2)} | ${r.seconds.toFixed(3)} | ${r.load.toFixed(3)} | ${r.count} | ${same} | ${ratio} |`;
  });
}

function report(args, corpus, results) {
  const cpu = cpus();
  const lines = [
    '# Tokenizer speed: cl100k_base, one core',
    '',
    `- Date: ${new Date().toISOString().slice(0, 10)}`,
    `- Machine: ${cpu.length}-core AVX-512 x86 VM (${cpu[0].model.trim()}), Node ${process.version}; every process pinned to core 0`,
    `- Commit: ${args.commit}`,
    `- Command: \`benchmarks/tokenizer_bench.sh\` (reps: ${args.reps}; median reported)`,
    `- Corpus: ${(corpus.bytes / 1e6).toFixed(2)} MB of UTF-8, sha256 ${corpus.sha256.slice(0, 16)}…, built from this machine's Debian files:`,
    ...corpus.composition.map((c) => `  - ${c.name}: ${c.files} files, ${(c.bytes / 1e6).toFixed(2)} MB`),
    '',
    'Encoding time excludes loading the vocabulary and reading the file. Every run is a fresh process (cold caches).',
    '"same ids": token count and SHA-256 of the id stream equal to diverge\'s. "diverge speed-up": their time / ours.',
    '',
    '| tokenizer | MB/s | encode s | load s | tokens | same ids | diverge speed-up |',
    '|---|---|---|---|---|---|---|',
    ...tableRows(results, corpus.bytes),
    '',
  ];
  mkdirSync(dirname(args.results), { recursive: true });
  writeFileSync(args.results, lines.join('\n'));
  console.log(lines.join('\n'));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.run) return runOne(args.run, args.corpus);
  for (const key of ['diverge', 'vocab', 'work', 'results']) if (!args[key]) fail(`--${key} is required`);
  const corpus = buildCorpus(resolve(args.work));
  console.error(`corpus: ${corpus.path}, ${(corpus.bytes / 1e6).toFixed(2)} MB`);
  const ours = measure(`diverge (${basename(args.vocab)})`, args.reps, () => divergeRun(args.diverge, args.vocab, corpus.path));
  ours.digest = divergeDigest(args.diverge, args.vocab, corpus.path);
  const results = [ours];
  for (const [name, tokenizer] of Object.entries(NPM_TOKENIZERS)) {
    results.push(measure(tokenizer.label, args.reps, () => npmRun(name, corpus.path)));
  }
  report(args, corpus, results);
  if (results.some((r) => r.count !== ours.count || r.digest !== ours.digest)) fail('token ids differ between tokenizers');
}

await main();
