/*
 * pay179.h - the China E-port "179" payment-data signing string, built from the JSON a
 * platform sends (the body of POST /v1/sign/179). Pure format code: bytes in, bytes out.
 *
 * Input: a JSON object with exactly these members, in any order:
 *   sessionID             string
 *   payExchangeInfoHead   object: guid, initalRequest, initalResponse, ebpCode, payCode,
 *                         payTransactionId, totalAmount, currency, verDept, payType,
 *                         tradingTime, note
 *   payExchangeInfoLists  array of objects: orderNo, goodsInfo, recpAccount, recpCode, recpName
 *                         goodsInfo: array of objects: gname, itemLink
 *   serviceTime           string or integer
 * Every field listed is required, every one is a string except totalAmount (a JSON number),
 * and no other field is accepted anywhere. Strings may be empty (the vector has recpCode "")
 * except sessionID; payExchangeInfoLists and goodsInfo must have at least one entry.
 * Missing, wrongly typed, unknown and repeated fields are PS_E_INVAL with an error text that
 * names the field, e.g. "payExchangeInfoHead.totalAmount must be a number",
 * "payExchangeInfoLists[0].goodsInfo[1].itemLink is missing".
 *
 * Output (no trailing newline), the E-port's fixed order whatever the input order:
 *   "sessionID":"S"||"payExchangeInfoHead":"H"||"payExchangeInfoLists":"L"||"serviceTime":"T"
 * H and L are compact JSON (no white space) with the fields in the order listed above,
 * embedded raw (their quotes are not escaped), as the E-port's own signer concatenates them.
 *   - Numbers (totalAmount) are copied exactly as written: 100, 100.50, 1e2 stay as they are.
 *   - Strings are decoded and re-escaped the way fastjson 1.2.x (JSON.toJSONString, default
 *     features), the platforms' usual Java library, writes them: \" \\ \b \t \n \f \r; the
 *     other C0 controls, DEL and U+0080..U+009F, U+2028 and U+2029 as \uXXXX (upper-case hex);
 *     everything else raw UTF-8. So an input "\u4e2d" becomes the three bytes of U+4E2D, "\/"
 *     becomes "/", a surrogate-pair escape becomes one 4-byte UTF-8 character.
 *   - S (sessionID) is embedded as its decoded text and must be non-empty printable ASCII
 *     without spaces, '"' or '\' (anything else would make the string ambiguous).
 *   - T (serviceTime) is 1 to 19 decimal digits (milliseconds since the epoch): the string's
 *     content, or the number's lexeme when it is sent as a JSON integer (no sign, fraction or
 *     exponent). "1544519952469" and 1544519952469 give the same signing string.
 *
 * JSON is checked strictly (RFC 8259) before any field is looked at: UTF-8 only (no overlong
 * forms, no encoded surrogates), no NUL byte, no unpaired \u surrogate, no trailing data,
 * nesting at most PAY179_MAX_DEPTH; such input is PS_E_INVAL "malformed JSON at byte N: ...",
 * except nesting too deep and len > max_len, which are PS_E_LIMIT. Memory use is the output
 * buffer only; time is linear in len.
 */
#ifndef PS_PAY179_H
#define PS_PAY179_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define PAY179_MAX_DEPTH 16

/*
 * Build the signing string from json[0..len) into out (reset first; its max bounds the
 * result, PS_E_LIMIT beyond it). On failure out is empty and err (if not NULL) holds a
 * NUL-terminated reason. The caller owns out and frees it with buf_free.
 */
int pay179_build(const char *json, size_t len, size_t max_len, struct buf *out, char *err,
                 size_t errlen) PS_WUR;

#endif
