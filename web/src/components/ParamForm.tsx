// A strategy's parameters as a form generated from its JSON Schema: every field labelled,
// with its limits and description, a slider beside bounded numbers, and the error of a value
// that cannot be sent.
import { useEffect, useMemo, useRef, useState } from "react";
import type { Choice } from "../api/types";
import {
  fieldsFromSchema,
  firstValue,
  limitsText,
  parseValues,
  stillTyping,
  type FormValues,
  type ParamField,
} from "../lib/params";
import { aboutChars, nearestStep, QUICK_SIZES, sizeSteps } from "../lib/sizes";

/** A value being typed is judged once the user pauses this long (or leaves the field). */
export const SETTLE_MS = 900;

interface Props {
  schema: unknown;
  values: FormValues;
  onChange: (values: FormValues) => void;
  /** Makes ids unique when several forms share a page (compare). */
  idPrefix: string;
  legend?: string;
  /** The values this installation has for some parameters (GET /strategies `options`). */
  choices?: Record<string, Choice[]>;
}

export function ParamForm({ schema, values, onChange, idPrefix, legend = "Parameters", choices }: Props) {
  const fields = useMemo(() => fieldsFromSchema(schema), [schema]);
  const { errors } = useMemo(() => parseValues(fields, values), [fields, values]);
  // Fields typed in and not yet left or paused on: a value on its way ("1" of "1024") is not
  // flagged while the user types; the preview waits for a valid one meanwhile.
  const [typing, setTyping] = useState<ReadonlySet<string>>(new Set());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  const settle = (name?: string) =>
    setTyping((set) => {
      if (name === undefined) return set.size ? new Set() : set;
      if (!set.has(name)) return set;
      const next = new Set(set);
      next.delete(name);
      return next;
    });
  const set = (name: string, value: string | boolean | null, typed = false) => {
    if (typed) {
      setTyping((list) => (list.has(name) ? list : new Set(list).add(name)));
      if (timer.current) clearTimeout(timer.current);
      timer.current = setTimeout(() => settle(), SETTLE_MS);
    } else settle(name);
    onChange({ ...values, [name]: value });
  };
  const shownError = (field: ParamField): string | null => {
    const error = errors[field.name] ?? null;
    if (!error || !typing.has(field.name)) return error;
    return stillTyping(field, values[field.name] ?? null) ? null : error;
  };
  const tokenizer = typeof values["tokenizer"] === "string" ? values["tokenizer"] : "cl100k";
  const size = Number(values["chunk_size"]);

  return (
    <fieldset className="param-form">
      <legend>{legend}</legend>
      {fields.map((field) => (
        <FieldRow
          key={field.name}
          field={field}
          id={`${idPrefix}-${field.name}`}
          value={values[field.name] ?? null}
          error={shownError(field)}
          choices={pickable(choices?.[field.name], fields)}
          patterns={choices?.[field.name]?.filter((c) => c.value.includes("PATH")) ?? []}
          onChange={(value, typed) => set(field.name, value, typed)}
          onBlur={() => settle(field.name)}
          tokenizer={tokenizer}
          sliderMax={field.name === "chunk_overlap" && Number.isFinite(size) && size > 0 ? Math.floor(size / 2) : null}
        />
      ))}
    </fieldset>
  );
}

/** The choices that are values to pick: not patterns such as `hf:PATH`, nor another
 *  parameter (an embedding endpoint is chosen with its own fields). */
function pickable(choices: Choice[] | undefined, fields: ParamField[]): Choice[] | undefined {
  const names = new Set(fields.map((f) => f.name));
  return choices?.filter((c) => !c.value.includes("PATH") && !names.has(c.value));
}

interface RowProps {
  field: ParamField;
  id: string;
  value: string | boolean | null;
  error: string | null;
  choices?: Choice[];
  /** Choices that are patterns (`hf:PATH`): a value of one's form is typed in. */
  patterns: Choice[];
  /** `typed`: from the keyboard, still being typed (judged after a pause). */
  onChange: (value: string | boolean | null, typed?: boolean) => void;
  onBlur: () => void;
  /** The form's tokenizer: what a chunk size is in characters. */
  tokenizer: string;
  /** The slider's end when it is tighter than the schema's (overlap: half the chunk size). */
  sliderMax: number | null;
}

/** A help text's `code` spans as code, the rest as text (never as HTML). */
export function RichText({ text }: { text: string }) {
  const parts = text.split("`");
  if (parts.length % 2 === 0) return <>{text}</>; // unbalanced: as written
  return <>{parts.map((part, k) => (k % 2 === 1 ? <code key={k}>{part}</code> : part))}</>;
}

const OTHER = "__other__";

function FieldRow({ field, id, value, error, choices, patterns, onChange, onBlur, tokenizer, sliderMax }: RowProps) {
  const limits = limitsText(field);
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const describedBy = [helpId, error ? errorId : null].filter(Boolean).join(" ");
  const unset = field.nullable && value === null;
  const offered = choices ?? [];
  const missing = offered.filter((c) => !c.available);
  // The installation's own values, with what each is, before the schema's examples.
  const suggestions: { value: string; label?: string }[] = offered.length
    ? offered.filter((c) => c.available).map((c) => ({ value: c.value, label: c.description }))
    : field.examples.map((example) => ({ value: String(example) }));
  const help = (
    <p className="field-help" id={helpId}>
      {field.description ? <RichText text={field.description} /> : null}
      {field.name === "chunk_size" && typeof value === "string" && Number(value) > 0 ? (
        <span className="field-hint"> {`${Number(value)} tokens is ${aboutChars(Number(value), tokenizer)}.`}</span>
      ) : null}
      {limits ? <span className="field-limits"> Allowed: {limits}.</span> : null}
      {field.default !== null && field.default !== undefined ? (
        <span className="field-default"> Default: {JSON.stringify(field.default)}.</span>
      ) : field.nullable ? (
        <span className="field-default"> Default: not set.</span>
      ) : null}
      {missing.length && field.kind !== "string" ? (
        <span className="field-unavailable">
          {" "}
          Not available here:{" "}
          {missing.map((c) => `${c.value} (${c.unavailable_reason ?? "cannot run here"})`).join("; ")}.
        </span>
      ) : null}
    </p>
  );

  const nullableToggle = field.nullable ? (
    <label className="field-toggle">
      <input
        type="checkbox"
        checked={!unset}
        onChange={(e) => onChange(e.target.checked ? firstValue(field) : null)}
        aria-describedby={helpId}
      />{" "}
      Set {field.title}
    </label>
  ) : null;

  if (field.kind === "boolean") {
    return (
      <div className="field field-boolean">
        <input
          id={id}
          type="checkbox"
          checked={value === true}
          onChange={(e) => onChange(e.target.checked)}
          aria-describedby={describedBy}
        />
        <label htmlFor={id}>{field.title}</label>
        {help}
      </div>
    );
  }

  let control: React.ReactNode;
  const invalid = error ? true : undefined;
  const text = typeof value === "string" ? value : "";
  if (field.kind === "enum") {
    control = (
      <select id={id} value={text} disabled={unset} onChange={(e) => onChange(e.target.value)} aria-describedby={describedBy} aria-invalid={invalid}>
        {field.options.map((option) => (
          <option key={String(option)} value={String(option)}>
            {String(option)}
          </option>
        ))}
      </select>
    );
  } else if (field.kind === "integer" || field.kind === "number") {
    const max = sliderMax !== null && field.maximum !== null ? Math.max(field.minimum ?? 0, Math.min(field.maximum, sliderMax)) : field.maximum;
    const bounded = field.minimum !== null && max !== null;
    const step = field.kind === "integer" ? 1 : sliderStep(field);
    const numeric = Number(text);
    const sliderValue = Number.isFinite(numeric) && text.trim() !== "" ? numeric : Number(field.default ?? field.minimum ?? 0);
    const number = (
      <input
        id={id}
        type="number"
        inputMode={field.kind === "integer" ? "numeric" : "decimal"}
        value={text}
        min={field.minimum ?? undefined}
        max={field.maximum ?? undefined}
        step={field.kind === "integer" ? 1 : "any"}
        disabled={unset}
        onChange={(e) => onChange(e.target.value, true)}
        onBlur={onBlur}
        aria-describedby={describedBy}
        aria-invalid={invalid}
      />
    );
    if (field.name === "chunk_size" && field.kind === "integer") {
      // Sizes are chosen on a log scale: the slider stops at round sizes a quarter-octave
      // apart, so 64 to 2048 fill most of it; quick picks for the usual ones.
      const steps = sizeSteps(field.minimum, field.maximum);
      const at = nearestStep(steps, sliderValue > 0 ? sliderValue : 512);
      control = (
        <div className="number-control">
          {number}
          <input
            type="range"
            className="slider"
            aria-label={`${field.title} slider`}
            min={0}
            max={steps.length - 1}
            step={1}
            value={at}
            aria-valuetext={`${steps[at]} tokens`}
            disabled={unset}
            onChange={(e) => onChange(String(steps[Number(e.target.value)] ?? sliderValue))}
            aria-describedby={helpId}
          />
          <span className="quick-sizes" role="group" aria-label={`${field.title}: common sizes`}>
            {QUICK_SIZES.filter((q) => steps.includes(q)).map((q) => (
              <button
                key={q}
                type="button"
                className="chip"
                aria-pressed={sliderValue === q && text.trim() !== ""}
                disabled={unset}
                onClick={() => onChange(String(q))}
              >
                {q}
              </button>
            ))}
          </span>
        </div>
      );
    } else control = (
      <div className="number-control">
        {number}
        {bounded ? (
          <input
            type="range"
            className="slider"
            aria-label={`${field.title} slider`}
            min={field.minimum ?? undefined}
            max={max ?? undefined}
            step={step}
            value={Math.min(sliderValue, max ?? sliderValue)}
            disabled={unset}
            onChange={(e) => onChange(e.target.value)}
            aria-describedby={helpId}
          />
        ) : null}
      </div>
    );
  } else if (field.kind === "string" && offered.length) {
    // What this installation has, as a list: the unavailable ones greyed with the server's
    // reason; a pattern (`hf:PATH`) is "another", typed in.
    const known = offered.some((c) => c.value === text);
    const mode = known ? text : OTHER;
    control = (
      <>
        <select
          id={id}
          value={mode}
          disabled={unset}
          onChange={(e) => onChange(e.target.value === OTHER ? (patterns[0]?.value.replace("PATH", "") ?? "") : e.target.value)}
          aria-describedby={describedBy}
          aria-invalid={invalid}
        >
          {offered.map((c) => (
            <option key={c.value} value={c.value} disabled={!c.available && c.value !== text}>
              {c.available ? (c.description ? `${c.value}: ${c.description}` : c.value) : `${c.value} (not available: ${c.unavailable_reason ?? "cannot run here"})`}
            </option>
          ))}
          {patterns.length ? <option value={OTHER}>Another ({patterns.map((p) => p.value).join(", ")})</option> : null}
        </select>
        {mode === OTHER ? (
          <input
            id={`${id}-other`}
            type="text"
            aria-label={`${field.title}: another value`}
            value={text}
            placeholder={patterns[0]?.value}
            disabled={unset}
            onChange={(e) => onChange(e.target.value, true)}
            onBlur={onBlur}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            spellCheck={false}
            autoComplete="off"
          />
        ) : null}
      </>
    );
  } else {
    const listId = field.kind === "string" && suggestions.length ? `${id}-examples` : undefined;
    control = (
      <>
        <input
          id={id}
          type="text"
          value={text}
          list={listId}
          disabled={unset}
          placeholder={field.kind === "integer-list" ? "e.g. 2048, 512" : undefined}
          onChange={(e) => onChange(e.target.value, true)}
          onBlur={onBlur}
          aria-describedby={describedBy}
          aria-invalid={invalid}
          spellCheck={false}
          autoComplete="off"
        />
        {listId ? (
          <datalist id={listId}>
            {suggestions.map((s) => (
              <option key={s.value} value={s.value} label={s.label} />
            ))}
          </datalist>
        ) : null}
      </>
    );
  }

  return (
    <div className={`field field-${field.kind}`}>
      <label htmlFor={id}>{field.title}</label>
      {nullableToggle}
      {control}
      {help}
      {error ? (
        <p className="field-error" id={errorId} role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function sliderStep(field: ParamField): number {
  const span = (field.maximum ?? 1) - (field.minimum ?? 0);
  if (span <= 0) return 0.01;
  const raw = span / 100;
  const power = 10 ** Math.floor(Math.log10(raw));
  return Number((Math.round(raw / power) * power).toPrecision(1));
}
