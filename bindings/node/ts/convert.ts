// Facade options to the addon's shapes, and the addon's results to the public ones.

import * as args from './args'
import { ClustronError, fromInfo } from './errors'
import type native = require('./native')
import type { BatchOp, DeleteOptions, DeleteResult, Entry, PutOptions, PutResult, Range } from './types'

const PUT_OPTIONS = ['ttlMs', 'lease', 'ifAbsent', 'ifVersion', 'guard', 'contentType', 'entity', 'labels'] as const
const DELETE_OPTIONS = ['ifVersion', 'guard'] as const
export const RANGE = ['prefix', 'start', 'end'] as const

function guard(value: unknown): native.Guard | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object') throw new TypeError('guard must be a Lock or { name, fence }')
  const { name, fence } = value as { name?: unknown; fence?: unknown }
  return { name: args.key('guard.name', name), fence: args.number('guard.fence', fence) }
}

function labels(value: unknown): native.LabelSpec[] | undefined {
  if (value === undefined || value === null) return undefined
  if (Array.isArray(value)) {
    return value.map((label, i) => {
      if (typeof label !== 'object' || label === null) throw new TypeError(`labels[${i}] must be { name, value }`)
      const { name, value: text, indexed } = label as Record<string, unknown>
      return {
        name: args.key(`labels[${i}].name`, name),
        value: args.labelValue(`labels[${i}].value`, text),
        indexed: args.boolean(`labels[${i}].indexed`, indexed),
      }
    })
  }
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([name, text]) => ({
      name,
      value: args.labelValue(`labels.${name}`, text),
    }))
  }
  throw new TypeError('labels must be an object of name: value or an array of { name, value, indexed }')
}

/** The options of a put, checked; undefined when there are none. */
export function putOptions(name: string, value: unknown): native.PutOptionsSpec | undefined {
  const o = args.options(name, value, PUT_OPTIONS)
  if (o === undefined) return undefined
  return {
    ttlMs: args.optionalNumber('ttlMs', o.ttlMs),
    lease: args.optionalNumber('lease', o.lease),
    ifAbsent: args.boolean('ifAbsent', o.ifAbsent),
    ifVersion: args.optionalNumber('ifVersion', o.ifVersion),
    guard: guard(o.guard),
    contentType: args.optionalString('contentType', o.contentType),
    entity: args.optionalString('entity', o.entity),
    labels: labels(o.labels),
  }
}

/** Whether a put's options are only a TTL (the fast path). */
export function onlyTtl(options: PutOptions | undefined): boolean {
  if (options === undefined) return true
  for (const field in options) {
    if (field !== 'ttlMs' && (options as Record<string, unknown>)[field] !== undefined) return false
  }
  return true
}

export function deleteOptions(name: string, value: unknown): native.DeleteOptionsSpec | undefined {
  const o = args.options(name, value, DELETE_OPTIONS)
  if (o === undefined) return undefined
  return { ifVersion: args.optionalNumber('ifVersion', o.ifVersion), guard: guard(o.guard) }
}

export function range(name: string, value: unknown, extra: readonly string[] = []): native.RangeSpec | undefined {
  const o = args.options(name, value, [...RANGE, ...extra])
  if (o === undefined) return undefined
  return {
    prefix: args.optionalString('prefix', o.prefix),
    start: args.optionalString('start', o.start),
    end: args.optionalString('end', o.end),
  }
}

export type RangeArg = Range | undefined

/** One batch operation, checked. */
export function op(name: string, value: unknown): native.OpSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an operation object (Op.get / Op.put / Op.delete)`)
  }
  const { op: kind, key, value: data, ...rest } = value as Record<string, unknown>
  if (kind === 'get') {
    args.options(name, rest, [])
    return { op: 'get', key: args.key(`${name}.key`, key) }
  }
  if (kind === 'put') {
    return { op: 'put', key: args.key(`${name}.key`, key), value: args.value(`${name}.value`, data), ...putOptions(name, rest) }
  }
  if (kind === 'delete') {
    return { op: 'delete', key: args.key(`${name}.key`, key), ...deleteOptions(name, rest) }
  }
  throw new TypeError(`${name}.op must be "get", "put" or "delete", got ${JSON.stringify(kind)}`)
}

export function ops(name: string, value: unknown): native.OpSpec[] {
  return args.array(name, value).map((item, i) => op(`${name}[${i}]`, item))
}

/** A batch, bulk or branch result as the public value: Entry or null, PutResult, DeleteResult or ClustronError. */
export function outcome(o: native.OpOutcome): Entry | PutResult | DeleteResult | ClustronError | null {
  switch (o.op) {
    case 'get':
      return (o.entry as Entry | null) ?? null
    case 'put':
      return o.put as PutResult
    case 'delete':
      return o.delete as DeleteResult
    default:
      return fromInfo(o.error ?? { code: 'internal', message: 'an item had no result' })
  }
}

export type { BatchOp, DeleteOptions, PutOptions }
