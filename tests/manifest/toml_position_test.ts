import assert from "node:assert/strict";
import { parse, TomlError } from "smol-toml";
import { offsetOf, unclosedAt, unclosedBrackets } from "../../lib/manifest/toml_position.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";

const P = "/m/bot-bottle.toml";

function messageOf(toml: string): string {
  try {
    parseManifestText(toml, P, "user");
  } catch (error) {
    assert.ok(error instanceof ManifestError, String(error));
    return error.message;
  }
  throw new Error("parsed");
}

Deno.test("an array left open on line 3 is reported at line 3, whatever follows", () => {
  const cases = [
    // The next table: smol-toml says 5:1 "unexpected character".
    '[bottles.a]\nimage = "x"\negress.allow = ["a.test"\n\n[agents.b]\nbottle = "a"\n',
    // The end of the file: smol-toml says 4:1 "unfinished array".
    '[bottles.a]\nimage = "x"\negress.allow = ["a.test"\n',
    // A later key.
    '[bottles.a]\nimage = "x"\negress.allow = ["a.test",\n  "b.test"\ncpus = 2\n',
  ];
  for (const toml of cases) {
    const message = messageOf(toml);
    assert.match(
      message,
      /^\/m\/bot-bottle\.toml:3:16: TOML syntax error: this array is never closed \(add the missing "\]"; the parser stopped at \d+:\d+: /,
      JSON.stringify(toml),
    );
  }
});

Deno.test("errors on the line where they are keep the parser's position", () => {
  assert.equal(
    messageOf('[bottles.a]\nimage = "x"\negress.allow = ["a" "b"]\n'),
    `${P}:3:21: TOML syntax error: ${
      tomlReason('[bottles.a]\nimage = "x"\negress.allow = ["a" "b"]\n')
    }`,
  );
  // A closed multi-line array with a missing comma: the array is closed, so no move.
  const toml = "a = [\n  1\n  2,\n]\n";
  assert.ok(!messageOf(toml).includes("never closed"), messageOf(toml));
  assert.ok(!messageOf(toml).startsWith(`${P}:1:`), messageOf(toml));
  // An inline table left open: smol-toml already stops on its line.
  assert.equal(
    messageOf('[bottles.a]\nimage = "x"\nbundle = { memory = 512\ncpus = 1\n'),
    `${P}:3:21: TOML syntax error: cannot find end of structure`,
  );
});

function tomlReason(toml: string): string {
  try {
    parse(toml);
  } catch (error) {
    assert.ok(error instanceof TomlError);
    return error.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
  }
  throw new Error("parsed");
}

Deno.test("the scanner ignores brackets in strings, comments and table headers", () => {
  const toml = [
    "# a [comment",
    "[bottles.a] # [x",
    'image = "x[y"',
    "env = { A = 'b{c' }",
    'prompt = """multi [',
    'line {"""',
    'git = [{ name = "a", upstream = "x" }]',
    "[[agents.list]]",
    "",
  ].join("\n");
  assert.deepEqual(unclosedBrackets(toml), []);
  assert.deepEqual(unclosedBrackets("a = [1, [2,\n"), [
    { kind: "array", line: 1, column: 5, endOffset: 12 },
    { kind: "array", line: 1, column: 9, endOffset: 12 },
  ]);
  assert.equal(unclosedAt("a = [1, [2,\n", 2, 1)?.column, 9, "the innermost");
  assert.equal(offsetOf("ab\ncd\n", 2, 2), 4);
});
