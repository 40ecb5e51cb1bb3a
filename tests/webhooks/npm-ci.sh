#!/bin/sh
# Installs tests/webhooks' pinned dependency (standardwebhooks, the Standard
# Webhooks reference library) into DIR (the build's webhooks/ directory)
# with tests/npm-ci.sh (which checks the lock file); then checks that the
# library verifies the specification's own test vector at the pinned version.
#   tests/webhooks/npm-ci.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?target directory}
sh "$here/../npm-ci.sh" "$here" "$dir"
cd "$dir"
node -e '
const { Webhook } = require("standardwebhooks");
const v = require("standardwebhooks/package.json").version;
const want = require("./package.json").dependencies.standardwebhooks;
const sig = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330000), "{\"test\": 2432232314}");
if (v !== want || sig !== "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") {
  console.error("FAIL: standardwebhooks " + v + " (want " + want + ") signs the test vector as " + sig);
  process.exit(1);
}
console.log("standardwebhooks " + v + ": the test vector verifies");
'
