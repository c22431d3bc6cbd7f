/**
 * Token attribute bits and the null token id, as in llama.cpp's `include/llama.h`.
 *
 * @module
 */

/** `LLAMA_TOKEN_NULL`. */
export const TOKEN_NULL: -1 = -1;

/** `llama_token_attr` bits (include/llama.h). */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;
