#!/usr/bin/env bash
# Installs the system programs fraudscore's local services and tests need, if they are missing:
# a JDK (Kafka 4 brokers need Java 17+), Maven (resolves the broker's jars from Maven Central),
# redis-server, kcat (the producer guide's command-line example, followed by a test; that test
# skips without it), and Chromium (the drift index page is rendered in a headless browser in a
# test; optional: that one test skips without it), and openssl (the TLS tests make their own
# certificates). Idempotent: does nothing when all are present.
set -euo pipefail

missing=()
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null
}
java_ok || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if command -v apt-get >/dev/null 2>&1 && [ "${FRAUDSCORE_SKIP_CHROMIUM:-}" != "1" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "fraudscore: installing ${missing[*]}" >&2
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v brew >/dev/null 2>&1; then
  brew install openjdk@17 maven redis kcat openssl
else
  echo "fraudscore: please install: Java 17+, Maven, redis-server, kcat and openssl (missing: ${missing[*]})" >&2
  exit 1
fi
