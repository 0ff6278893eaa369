// A strategy's `params_schema` (JSON Schema from its pydantic model) as form fields, and the
// form's raw values back to the `params` object the API takes (only what differs from the
// defaults, so the server's defaults stay the truth).

export type FieldKind = "integer" | "number" | "string" | "boolean" | "enum" | "integer-list" | "json";

export interface ParamField {
  name: string;
  title: string;
  description: string | null;
  kind: FieldKind;
  /** `anyOf: [..., {type: "null"}]`: the field may be left unset (null). */
  nullable: boolean;
  default: unknown;
  minimum: number | null;
  maximum: number | null;
  minLength: number | null;
  maxLength: number | null;
  options: unknown[];
  examples: unknown[];
}

/** Raw form values: text as typed, booleans, or null for an unset nullable field. */
export type FormValues = Record<string, string | boolean | null>;

type JsonSchema = Record<string, unknown>;

function asSchema(value: unknown): JsonSchema {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as JsonSchema) : {};
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function titleFor(name: string): string {
  return name.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

export function fieldsFromSchema(schema: unknown): ParamField[] {
  const root = asSchema(schema);
  const properties = asSchema(root["properties"]);
  return Object.entries(properties).map(([name, raw]) => {
    const prop = asSchema(raw);
    let body = prop;
    let nullable = false;
    const anyOf = prop["anyOf"];
    if (Array.isArray(anyOf)) {
      const variants = anyOf.map(asSchema);
      nullable = variants.some((v) => v["type"] === "null");
      body = variants.find((v) => v["type"] !== "null") ?? {};
    }
    const type = body["type"];
    let kind: FieldKind = "json";
    if (Array.isArray(body["enum"])) kind = "enum";
    else if (type === "integer") kind = "integer";
    else if (type === "number") kind = "number";
    else if (type === "string") kind = "string";
    else if (type === "boolean") kind = "boolean";
    else if (type === "array" && asSchema(body["items"])["type"] === "integer") kind = "integer-list";
    const description = prop["description"] ?? body["description"];
    return {
      name,
      title: typeof prop["title"] === "string" ? prop["title"] : titleFor(name),
      description: typeof description === "string" ? description : null,
      kind,
      nullable,
      default: prop["default"] ?? null,
      minimum: num(body["minimum"]) ?? num(body["exclusiveMinimum"]),
      maximum: num(body["maximum"]) ?? num(body["exclusiveMaximum"]),
      minLength: num(body["minLength"]),
      maxLength: num(body["maxLength"]),
      options: Array.isArray(body["enum"]) ? (body["enum"] as unknown[]) : [],
      examples: Array.isArray(prop["examples"]) ? (prop["examples"] as unknown[]) : [],
    };
  });
}

function rawFrom(field: ParamField, value: unknown): string | boolean | null {
  if (value === null || value === undefined) {
    if (field.nullable) return null;
    return field.kind === "boolean" ? false : "";
  }
  switch (field.kind) {
    case "boolean":
      return Boolean(value);
    case "integer-list":
      return Array.isArray(value) ? value.join(", ") : String(value);
    case "json":
      return JSON.stringify(value);
    default:
      return String(value);
  }
}

/** Raw values for `fields`: from `params` where given, else the defaults. */
export function initialValues(fields: ParamField[], params: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {};
  for (const field of fields) {
    values[field.name] = rawFrom(field, field.name in params ? params[field.name] : field.default);
  }
  return values;
}

/** A first value for a nullable field being switched on: an example, the minimum, or empty. */
export function firstValue(field: ParamField): string | boolean {
  if (field.kind === "boolean") return false;
  const example = field.examples[0];
  if (example !== undefined && example !== null) return rawFrom(field, example) ?? "";
  if (field.minimum !== null) return String(field.minimum);
  return "";
}

export function limitsText(field: ParamField): string | null {
  const { minimum, maximum, minLength, maxLength } = field;
  if (minimum !== null && maximum !== null) return `${minimum} to ${maximum}`;
  if (minimum !== null) return `at least ${minimum}`;
  if (maximum !== null) return `at most ${maximum}`;
  if (minLength !== null && maxLength !== null) return `${minLength} to ${maxLength} characters`;
  if (maxLength !== null) return `at most ${maxLength} characters`;
  return null;
}

export function parseOne(field: ParamField, raw: string | boolean | null): { value?: unknown; error?: string } {
  if (raw === null) return { value: null };
  const name = field.title;
  switch (field.kind) {
    case "boolean":
      return { value: Boolean(raw) };
    case "integer":
    case "number": {
      const text = String(raw).trim();
      if (text === "") return { error: `${name} is required.` };
      const value = Number(text);
      if (!Number.isFinite(value)) return { error: `${name} must be a number.` };
      if (field.kind === "integer" && !Number.isInteger(value)) {
        return { error: `${name} must be a whole number.` };
      }
      const limits = limitsText(field);
      if ((field.minimum !== null && value < field.minimum) || (field.maximum !== null && value > field.maximum)) {
        return { error: `${name} must be ${limits}.` };
      }
      return { value };
    }
    case "integer-list": {
      const text = String(raw).trim();
      if (text === "") return field.nullable ? { value: null } : { value: [] };
      const parts = text.split(/[\s,]+/).filter(Boolean);
      const values = parts.map(Number);
      if (values.some((v) => !Number.isInteger(v))) {
        return { error: `${name} must be whole numbers separated by commas.` };
      }
      return { value: values };
    }
    case "json": {
      try {
        return { value: JSON.parse(String(raw)) };
      } catch {
        return { error: `${name} must be valid JSON.` };
      }
    }
    case "enum": {
      const match = field.options.find((option) => String(option) === String(raw));
      return match === undefined ? { error: `${name} must be one of the options.` } : { value: match };
    }
    case "string": {
      const text = String(raw);
      if (field.minLength !== null && text.length < field.minLength) {
        return { error: `${name} must be at least ${field.minLength} characters.` };
      }
      if (field.maxLength !== null && text.length > field.maxLength) {
        return { error: `${name} must be at most ${field.maxLength} characters.` };
      }
      return { value: text };
    }
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export interface ParsedParams {
  /** The parameters that differ from their defaults. */
  params: Record<string, unknown>;
  /** A sentence per field whose value cannot be sent. */
  errors: Record<string, string>;
}

export function parseValues(fields: ParamField[], values: FormValues): ParsedParams {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const parsed: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = values[field.name] ?? rawFrom(field, field.default);
    const { value, error } = parseOne(field, raw);
    if (error) errors[field.name] = error;
    else {
      parsed[field.name] = value;
      if (!sameValue(value, field.default)) params[field.name] = value;
    }
  }
  // The rule every strategy's parameters keep across two fields (the server's too).
  const size = parsed["chunk_size"];
  const overlap = parsed["chunk_overlap"];
  if (typeof size === "number" && typeof overlap === "number" && overlap > Math.floor(size / 2)) {
    const title = fields.find((f) => f.name === "chunk_overlap")?.title ?? "Chunk overlap";
    errors["chunk_overlap"] = `${title} must be at most half of the chunk size: at most ${Math.floor(size / 2)} for ${size}.`;
  }
  return { params, errors };
}

/**
 * Whether `raw` may still become a valid value as the user goes on typing: a number below
 * the minimum that more digits would bring into range ("1" on the way to "1024"), or an
 * unfinished number ("0." or "-"). Such a value is not flagged until the user pauses or leaves.
 */
export function stillTyping(field: ParamField, raw: string | boolean | null): boolean {
  if (typeof raw !== "string") return false;
  const text = raw.trim();
  if (field.kind !== "integer" && field.kind !== "number") return false;
  if (text === "" || text === "-" || text.endsWith(".")) return true;
  const value = Number(text);
  if (!Number.isFinite(value) || field.minimum === null || value >= field.minimum || value <= 0) return false;
  for (let digits = 1, v = value * 10; digits <= 4; digits++, v *= 10) {
    if (v >= field.minimum && (field.maximum === null || v <= field.maximum)) return true;
  }
  return false;
}
