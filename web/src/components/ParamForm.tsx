// A strategy's parameters as a form generated from its JSON Schema: every field labelled,
// with its limits and description, a slider beside bounded numbers, and the error of a value
// that cannot be sent.
import { useMemo } from "react";
import type { Choice } from "../api/types";
import {
  fieldsFromSchema,
  firstValue,
  limitsText,
  parseValues,
  type FormValues,
  type ParamField,
} from "../lib/params";

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
  const set = (name: string, value: string | boolean | null) => onChange({ ...values, [name]: value });

  return (
    <fieldset className="param-form">
      <legend>{legend}</legend>
      {fields.map((field) => (
        <FieldRow
          key={field.name}
          field={field}
          id={`${idPrefix}-${field.name}`}
          value={values[field.name] ?? null}
          error={errors[field.name] ?? null}
          choices={pickable(choices?.[field.name], fields)}
          onChange={(value) => set(field.name, value)}
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
  onChange: (value: string | boolean | null) => void;
}

function FieldRow({ field, id, value, error, choices, onChange }: RowProps) {
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
      {field.description}
      {limits ? <span className="field-limits"> Allowed: {limits}.</span> : null}
      {field.default !== null && field.default !== undefined ? (
        <span className="field-default"> Default: {JSON.stringify(field.default)}.</span>
      ) : field.nullable ? (
        <span className="field-default"> Default: not set.</span>
      ) : null}
      {missing.length ? (
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
    const bounded = field.minimum !== null && field.maximum !== null;
    const step = field.kind === "integer" ? 1 : sliderStep(field);
    const numeric = Number(text);
    const sliderValue = Number.isFinite(numeric) && text.trim() !== "" ? numeric : Number(field.default ?? field.minimum ?? 0);
    control = (
      <div className="number-control">
        <input
          id={id}
          type="number"
          inputMode={field.kind === "integer" ? "numeric" : "decimal"}
          value={text}
          min={field.minimum ?? undefined}
          max={field.maximum ?? undefined}
          step={field.kind === "integer" ? 1 : "any"}
          disabled={unset}
          onChange={(e) => onChange(e.target.value)}
          aria-describedby={describedBy}
          aria-invalid={invalid}
        />
        {bounded ? (
          <input
            type="range"
            className="slider"
            aria-label={`${field.title} slider`}
            min={field.minimum ?? undefined}
            max={field.maximum ?? undefined}
            step={step}
            value={sliderValue}
            disabled={unset}
            onChange={(e) => onChange(e.target.value)}
            aria-describedby={helpId}
          />
        ) : null}
      </div>
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
          onChange={(e) => onChange(e.target.value)}
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
