/**
 * The tokenizer: llama.cpp's BPE and SPM tokenizers rebuilt from GGUF metadata, with exact id parity.
 * Pipeline: special-token split -> pre-tokenize -> merge -> post-process; detokenize and a streaming decoder.
 *
 * @module
 */
export {
  type EncodeOptions,
  type PieceOptions,
  SUPPORTED_VOCAB_KINDS,
  Tokenizer,
  type TokenizerIdentity,
} from "./tokenizer.ts";
export { StreamDecoder, type StreamDecoderOptions } from "./stream_decoder.ts";
export { loadVocab, mergeKey, type SpecialIds, type Vocab, type VocabKind } from "./vocab.ts";
export { TOKEN_NULL, TokenAttr } from "./token_attr.ts";
export {
  PRE_TOKENIZER_REGEXES,
  preTokenize,
  type PreTokenizeOptions,
  preTokenizerFor,
  preTokenizerForType,
  type PreTokenizerSpec,
  wordsFromOffsets,
} from "./pre_tokenize.ts";
export { PRE_TYPE_BY_NAME, type PreTypeInfo, resolvePreType } from "./pre_types.ts";
export { byteDecode, byteEncode, bytesToUnicode, unicodeToBytes } from "./byte_encoding.ts";
export { bpeMerge } from "./bpe.ts";
export { bpeMergeRef } from "./bpe_ref.ts";
export { spmTokenize, type SpmVocab } from "./spm.ts";
export { type Fragment, partitionSpecial, type SpecialToken } from "./special_split.ts";
export { buildPiece, detokenize, type DetokenizeOptions } from "./detokenize.ts";
export { codepointsFromUtf8, utf8Encode, utf8SeqLen, writeUtf8 } from "./utf8.ts";
export { CptFlag, cptFlags, cptFlagTable, cptToLower, decodeDeltaPairs, MAX_CODEPOINTS } from "./unicode_flags.ts";
export {
  formatVocabTestLine,
  parseVocabTestInputs,
  parseVocabTestOutputs,
  VOCAB_TEST_SEPARATOR,
} from "./test_vectors.ts";
