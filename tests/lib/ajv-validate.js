// ajv-validate.js SCHEMA FILE...: validate JSON files against a JSON Schema
// 2020-12 with ajv 8 (strict mode, so that a mistake in the schema itself
// fails too) and ajv-formats.  One line per file: "valid FILE" or
// "invalid FILE: errors".  NODE_PATH must reach ajv and ajv-formats.
"use strict";
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const [schemaPath, ...files] = process.argv.slice(2);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, "utf8")));
for (const f of files) {
  if (validate(JSON.parse(fs.readFileSync(f, "utf8")))) console.log(`valid ${f}`);
  else console.log(`invalid ${f}: ${ajv.errorsText(validate.errors)}`);
}
