'use strict'
// Every declaration of the public types (dist/*.d.ts, what an editor reads) carries a TSDoc
// comment: exported interfaces, classes, functions, types and constants, and each of their
// members (options included), so a hover explains every option of every call.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')

const DIST = path.join(__dirname, '..', 'dist')

function documented (node) {
  return ts.getJSDocCommentsAndTags(node).some((doc) => {
    const text = typeof doc.comment === 'string' ? doc.comment : (doc.comment || []).map((part) => part.text).join('')
    return text.trim().length > 0 || (doc.tags || []).length > 0
  })
}

function isExported (node) {
  return (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export) !== 0
}

function isPrivate (member) {
  const flags = ts.getCombinedModifierFlags(member)
  const name = member.name && member.name.getText ? member.name.getText() : ''
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 || name.startsWith('_') || name.startsWith('#')
}

function parse (file) {
  return ts.createSourceFile(file, fs.readFileSync(path.join(DIST, file), 'utf8'), ts.ScriptTarget.Latest, true)
}

// What the package exports: each module's public names ('*': all of them), read from the
// entry point's `export { .. } from` and `export * from` lines; the entry point's own exports.
function publicNames () {
  const names = new Map([['clustron.d.ts', '*']])
  for (const statement of parse('clustron.d.ts').statements) {
    if (!ts.isExportDeclaration(statement) || !statement.moduleSpecifier) continue
    const file = `${statement.moduleSpecifier.text.replace('./', '')}.d.ts`
    if (!statement.exportClause) {
      names.set(file, '*')
    } else {
      const known = names.get(file) || new Set()
      for (const element of statement.exportClause.elements) known.add((element.propertyName || element.name).text)
      names.set(file, known)
    }
  }
  return names
}

function undocumented () {
  const missing = []
  for (const [file, names] of publicNames()) {
    const source = parse(file)
    const where = (node, name) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${name}`
    const isPublic = (name) => names === '*' || names.has(name)
    for (const statement of source.statements) {
      if (!isExported(statement)) continue
      if (ts.isVariableStatement(statement)) {
        const declared = statement.declarationList.declarations[0].name.getText()
        if (isPublic(declared) && !documented(statement)) missing.push(where(statement, declared))
        continue
      }
      if (!statement.name || !isPublic(statement.name.getText())) continue
      const name = statement.name.getText()
      if (!documented(statement)) missing.push(where(statement, name))
      const members = statement.members || (statement.type && statement.type.members) || []
      for (const member of members) {
        if (isPrivate(member) || ts.isIndexSignatureDeclaration(member)) continue
        // Protocol members (`[Symbol.asyncIterator]`, `[Symbol.asyncDispose]`) say what the language says.
        if (member.name && ts.isComputedPropertyName(member.name)) continue
        if (ts.isConstructorDeclaration(member) && member.parameters.length === 0) continue
        const label = member.name ? `${name}.${member.name.getText()}` : `${name}.constructor`
        if (!documented(member)) missing.push(where(member, label))
      }
    }
  }
  return missing
}

test('every public declaration and member has a TSDoc comment', () => {
  const missing = undocumented()
  assert.deepStrictEqual(missing, [], `undocumented:\n${missing.join('\n')}`)
})

test('the put options explain themselves in the hover text', () => {
  const options = parse('types.d.ts').statements.find((node) => node.name && node.name.getText() === 'PutOptions')
  const explained = options.members.filter(documented).map((member) => member.name.getText())
  assert.deepStrictEqual(explained, ['ttlMs', 'lease', 'ifAbsent', 'ifVersion', 'guard', 'contentType', 'entity', 'labels'])
})
