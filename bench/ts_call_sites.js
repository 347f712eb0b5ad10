// Ground truth for bench/context_recall.py on TypeScript: call sites and the declaration each calls.
//
// Uses the TypeScript compiler's own type checker (independent of tree-sitter and of the index): for
// every `name(` and `obj.name(` call in the .ts files under ROOT, the symbol the checker resolves the
// callee to. Kept: callees with exactly one declaration (function, method, class), in another file
// under ROOT. Prints one JSON object per line: file, 0-based line and UTF-16 column just after the
// `(`, kind, callee name, and the truth (the declaration's first line, trimmed).
//
// Usage: node bench/ts_call_sites.js ROOT TYPESCRIPT_DIR   (TYPESCRIPT_DIR: an unpacked `npm pack
// typescript`, e.g. /tmp/ts/package)
"use strict";
const fs = require("fs");
const path = require("path");
const [root, tsDir] = process.argv.slice(2);
const ts = require(path.resolve(tsDir));

function walk(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

const files = walk(path.resolve(root), []);
const program = ts.createProgram(files, {
  target: ts.ScriptTarget.ES2020,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  allowJs: false,
  noEmit: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();
const inRoot = new Set(files);
const KINDS = new Set([
  ts.SyntaxKind.FunctionDeclaration,
  ts.SyntaxKind.MethodDeclaration,
  ts.SyntaxKind.MethodSignature,
  ts.SyntaxKind.ClassDeclaration,
]);
const MEMBERS = new Set([ts.SyntaxKind.MethodDeclaration, ts.SyntaxKind.MethodSignature]);

for (const file of files) {
  const source = program.getSourceFile(file);
  if (!source) continue;
  const visit = (node) => {
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const callee = node.expression;
      let nameNode = null;
      let kind = null;
      if (ts.isIdentifier(callee)) {
        nameNode = callee;
        kind = "name(";
      } else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.name)) {
        nameNode = callee.name;
        kind = "obj.name(";
      }
      if (nameNode && node.arguments !== undefined) {
        let symbol = checker.getSymbolAtLocation(nameNode);
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
        const decls = (symbol && symbol.declarations) || [];
        const decl = decls.length === 1 ? decls[0] : null;
        const declFile = decl && decl.getSourceFile().fileName;
        if (
          decl && KINDS.has(decl.kind) && declFile !== file && inRoot.has(path.resolve(declFile)) &&
          !(kind === "name(" && MEMBERS.has(decl.kind))
        ) {
          const declSource = decl.getSourceFile();
          const declName = decl.name || decl;
          const row = declSource.getLineAndCharacterOfPosition(declName.getStart(declSource)).line;
          // The line as written, less an opening brace or closing semicolon and the export keywords:
          // the prompt shows a declaration as the index extracts it (`function f(`, `class A`).
          const truth = declSource.text.split("\n")[row].trim().replace(/\s*[{;]$/, "")
            .replace(/^export\s+(default\s+)?/, "");
          const paren = source.text.indexOf("(", nameNode.getEnd());
          const between = source.text.slice(nameNode.getEnd(), paren);
          if (paren >= 0 && /^\s*(<[^()]*>)?\s*$/.test(between)) {
            const at = source.getLineAndCharacterOfPosition(paren + 1);
            console.log(JSON.stringify({
              file, line: at.line, character: at.character, kind, name: nameNode.text, truth,
            }));
          }
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
