// A chunking configuration: presets for common setups, the strategy (with its description;
// what this server cannot run greyed with the server's reason) and its generated form.
import { useState } from "react";
import type { Strategy } from "../api/types";
import { PRESETS } from "../lib/presets";
import { editorFor, findStrategy, switchStrategy, type EditorState } from "../lib/strategies";
import { ParamForm, RichText } from "./ParamForm";

interface Props {
  strategies: Strategy[];
  value: EditorState;
  onChange: (value: EditorState) => void;
  idPrefix: string;
  label?: string;
  /** Offer the presets (on by default). */
  presets?: boolean;
}

export function ConfigEditor({ strategies, value, onChange, idPrefix, label = "Strategy", presets = true }: Props) {
  const strategy = findStrategy(strategies, value.strategy);
  const selectId = `${idPrefix}-strategy`;
  const [applied, setApplied] = useState<string | null>(null);
  const offered = PRESETS.filter((p) => findStrategy(strategies, p.config.strategy));
  return (
    <div className="config-editor">
      {presets && offered.length ? (
        <div className="presets">
          <span className="presets-label" id={`${idPrefix}-presets`}>
            Presets
          </span>
          <span role="group" aria-labelledby={`${idPrefix}-presets`} className="chip-list">
            {offered.map((preset) => {
              const runs = findStrategy(strategies, preset.config.strategy)?.available !== false;
              return (
                <button
                  key={preset.id}
                  type="button"
                  className="chip"
                  disabled={!runs}
                  onClick={() => {
                    onChange(editorFor(strategies, preset.config));
                    setApplied(`${preset.label}: ${preset.description}`);
                  }}
                >
                  {preset.label}
                </button>
              );
            })}
          </span>
          <p className="field-help" aria-live="polite">
            {applied ?? "One click sets a strategy and its parameters for a common use."}
          </p>
        </div>
      ) : null}
      <div className="field">
        <label htmlFor={selectId}>{label}</label>
        <select
          id={selectId}
          value={value.strategy}
          onChange={(e) => {
            setApplied(null);
            onChange(switchStrategy(strategies, value, e.target.value));
          }}
          aria-describedby={`${selectId}-help`}
        >
          {strategies.map((s) => (
            // What this installation cannot run is shown, greyed with the reason, and cannot be chosen.
            <option key={s.name} value={s.name} disabled={s.available === false && s.name !== value.strategy}>
              {s.available === false ? `${s.name} (not available: ${s.unavailable_reason ?? "cannot run here"})` : s.name}
            </option>
          ))}
        </select>
        <p className="field-help" id={`${selectId}-help`}>
          {strategy?.description ? <RichText text={strategy.description} /> : null}
        </p>
        {strategy && strategy.available === false ? (
          <p className="field-error" role="status">
            {strategy.name} cannot run on this server: {strategy.unavailable_reason}
          </p>
        ) : null}
      </div>
      {strategy ? (
        <ParamForm
          key={strategy.name}
          schema={strategy.params_schema}
          values={value.values}
          onChange={(values) => {
            setApplied(null);
            onChange({ ...value, values });
          }}
          idPrefix={idPrefix}
          legend={`${strategy.name} parameters`}
          choices={strategy.options}
        />
      ) : null}
    </div>
  );
}
