#!/usr/bin/env bash
# route_limit: one route's own body and header limits (docs/configuration.md). sign_hash gets
# body=2048 headers=1024: a larger body is 413 before it is read, a larger header block 431,
# while other routes keep max_body and max_header_size.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/r"
printf 'route_limit sign_hash body=2048 headers=1024\n' >>"$TMP/r/portseald.conf"
check "the config with route_limit is valid (portseald -t)" \
    "$PORTSEALD" -t -c "$TMP/r/portseald.conf"
kill -HUP "$(cat "$TMP/r/portseald.pid")"
check "the appliance reloads" wait_until 15 grep -q 'reload: configuration read again' "$TMP/r/portseald.log"
as_tenant1
ready() { api GET /v1/keys && [ "$STATUS" = 200 ]; }
check "and serves again" wait_until 15 ready
H=$(b64_sha256 x)
post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$H"'"]}'
expect_status "a small sign_hash request is signed" 200
PAD=$(head -c 3000 /dev/zero | tr '\0' ' ')
post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$H"'"]}'"$PAD"
expect_error "a 3 KB sign_hash body is over its body=2048" 413 payload_too_large
check "the answer names the route's limit" grep -q '2048' "$TMP/body"
BIG=$(head -c 1100 /dev/zero | tr '\0' a)
api POST /v1/sign/hash -H 'content-type: application/json' -H "x-pad: $BIG" \
    --data-binary '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$H"'"]}'
expect_error "a 1.1 KB header block on sign_hash is over its headers=1024" 431 header_too_large
api GET /v1/keys -H "x-pad: $BIG"
expect_status "the same header on another route is within max_header_size" 200
head -c 3000 /dev/urandom >"$TMP/doc"
api POST "/v1/sign/cms?key=t1-ec" --data-binary "@$TMP/doc"
expect_status "a 3 KB body on sign_cms keeps max_body" 200
printf 'route_limit keys body=4096\n' >>"$TMP/r/portseald.conf"
check "portseald -t refuses body= on a route without a body" not "$PORTSEALD" -t -c "$TMP/r/portseald.conf"
