/**
 * @module
 * Device resources: the model later resources copy. Every field is described, with an example;
 * read-only fields appear only in `Device`, writable ones in `DeviceCreate` / `DeviceUpdate`.
 */
import { z } from '@hono/zod-openapi';
import { idSchema, NextCursorSchema, nameSchema, PaginationQuerySchema, queryFilter, TimestampSchema } from './common.ts';

export const DEVICE_KINDS = ['phone', 'browser', 'iot', 'server', 'other'] as const;
export const DEVICE_STATUSES = ['active', 'disabled'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];
export const MAX_METADATA_KEYS = 50;
export const MAX_TAGS = 20;

export const DEVICE_EXAMPLE_ID = 'dev_8Kq2Wn5Rt7Yb1Xc4Vz9Lm3';

export const DeviceIdSchema = idSchema('device', 'The device id.', DEVICE_EXAMPLE_ID);

export const DevicePathSchema = z.object({
  id: DeviceIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

const NameSchema = nameSchema('A human name', 'Front desk tablet');

const KindSchema = z.enum(DEVICE_KINDS).openapi({ description: 'What sort of device it is.', example: 'browser' });

const ExternalIdSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'Must be 1–128 visible ASCII characters')
  .openapi({
    description: 'Your own id for the device, unique in the organisation: 1–128 visible ASCII characters.',
    example: 'asset-4471',
  });

const MetadataSchema = z
  .record(
    z
      .string()
      .min(1)
      .max(40)
      .refine((key) => key !== '__proto__', 'The key __proto__ is reserved')
      .openapi({ description: 'A key, 1–40 characters, not `__proto__`.' }),
    z
      .union([z.string().max(500), z.number(), z.boolean()])
      .openapi({ description: 'A string of at most 500 characters, a number or a boolean.' }),
  )
  .refine((metadata) => Object.keys(metadata).length <= MAX_METADATA_KEYS, `At most ${MAX_METADATA_KEYS} keys`)
  .openapi({
    description: `Your key–value data: at most ${MAX_METADATA_KEYS} keys of 1–40 characters (not \`__proto__\`, which every request body refuses); values are strings (≤ 500 characters), numbers or booleans.`,
    maxProperties: MAX_METADATA_KEYS,
    example: { floor: 3, model: 'Pixel 9', kiosk: true },
    // OpenAPI 3.1 (JSON Schema) keyword the library's 3.0-shaped metadata type does not list; it is emitted as given.
    // `__proto__` is refused in every body before validation (request-limits), so the contract says so too.
    ...({ propertyNames: { minLength: 1, maxLength: 40, not: { const: '__proto__' } } } as object),
  });

const TagSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,49}$/, 'Must be 1–50 characters of letters, digits and _ . : / -, starting with a letter or digit')
  .openapi({
    description: 'A label: 1–50 characters of letters, digits and `_ . : / -`, starting with a letter or digit.',
    example: 'lobby',
  });

const TagsSchema = z
  .array(TagSchema)
  .max(MAX_TAGS)
  .refine((tags) => new Set(tags).size === tags.length, 'Tags must not repeat')
  .openapi({ description: `Labels to filter by, at most ${MAX_TAGS}, each once.`, uniqueItems: true, example: ['lobby', 'floor:3'] });

const StatusSchema = z.enum(DEVICE_STATUSES).openapi({ description: 'A disabled device cannot join sessions.', example: 'active' });

export const DeviceSchema = z
  .object({
    id: DeviceIdSchema,
    name: NameSchema,
    kind: KindSchema,
    external_id: ExternalIdSchema.nullable(),
    metadata: MetadataSchema,
    tags: TagsSchema,
    status: StatusSchema,
    last_seen_at: TimestampSchema.nullable().openapi({ description: 'When the device last connected to a session; `null` if never.' }),
    created_at: TimestampSchema.openapi({ description: 'When the device was registered.' }),
    updated_at: TimestampSchema.openapi({ description: 'When the device last changed.' }),
    version: z.int().min(1).openapi({ description: 'Counts changes; the `ETag` is derived from it.', example: 1 }),
  })
  .openapi('Device', { description: 'A device of the organisation.' });

export const DeviceCreateSchema = z
  .object({
    name: NameSchema,
    kind: KindSchema,
    external_id: ExternalIdSchema.optional(),
    metadata: MetadataSchema.optional(),
    tags: TagsSchema.optional(),
    status: StatusSchema.optional(),
  })
  .strict()
  .openapi('DeviceCreate', { description: 'A device to register. Omitted fields: no external id, empty metadata and tags, `active`.' });

/**
 * The request the reference pre-fills and the TypeScript sample sends: without `external_id`,
 * whose example would make a second "Test Request" a 409.
 */
export const DEVICE_CREATE_EXAMPLE = { name: 'Front desk tablet', kind: 'browser', tags: ['lobby'] } satisfies z.input<
  typeof DeviceCreateSchema
>;

export const DeviceUpdateSchema = z
  .object({
    name: NameSchema.optional(),
    kind: KindSchema.optional(),
    external_id: ExternalIdSchema.nullable().optional().openapi({ description: 'Your own id for the device; `null` removes it.' }),
    metadata: MetadataSchema.optional().openapi({ description: 'Replaces the whole metadata object.' }),
    tags: TagsSchema.optional().openapi({ description: 'Replaces the whole tag list.' }),
    status: StatusSchema.optional(),
  })
  .strict()
  .refine((update) => Object.keys(update).length > 0, 'An update must change at least one field')
  .openapi('DeviceUpdate', {
    description: 'The fields to change; at least one. Read-only fields (`id`, `version`, times) are refused.',
    minProperties: 1,
  });

/** One field changed: the schema's examples together would also set an `external_id` that may be taken. */
export const DEVICE_UPDATE_EXAMPLE = { status: 'disabled' } satisfies z.input<typeof DeviceUpdateSchema>;

export const DeviceListSchema = z
  .object({
    data: z.array(DeviceSchema).openapi({ description: 'Devices in registration order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('DeviceList', { description: 'A page of devices.' });

export const DeviceListQuerySchema = PaginationQuerySchema.extend({
  status: queryFilter(StatusSchema, 'Only devices with this status.'),
  kind: queryFilter(KindSchema, 'Only devices of this kind.'),
  tag: queryFilter(TagSchema, 'Only devices carrying this tag.'),
  q: queryFilter(
    z.string().min(1).max(100),
    'Only devices whose name or external id contains this text (ASCII case-insensitive; matched literally, so `%` and `_` match themselves).',
  ),
}).strict();

/** The ETag header of a device response, documented once for every route that sends it. */
export const DEVICE_ETAG_HEADER = {
  ETag: {
    description: 'The entity tag of this version of the device, for `If-None-Match` and `If-Match`.',
    required: true,
    schema: { type: 'string', example: '"v3"' },
  },
} as const;

// No example: only the ETag of the device's current version is valid, so any fixed one is a 412.
export const DeleteDeviceQuerySchema = z
  .object({
    erase: queryFilter(
      z.enum(['true', 'false']),
      'With `true`, the device’s personal data is erased too: see the operation’s description. `false`, or omitted: only the device is deleted.',
    ),
  })
  .strict();

export const DeviceIfMatchHeaderSchema = z.object({
  'If-Match': z.string().max(1024).optional().openapi({
    description: 'The `ETag` you last read: the change is made only if the device is still at that version (else 412).',
  }),
});
