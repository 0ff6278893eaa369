// A chunking configuration: the strategy (with its description) and its generated form.
import type { Strategy } from "../api/types";
import { findStrategy, switchStrategy, type EditorState } from "../lib/strategies";
import { ParamForm } from "./ParamForm";

interface Props {
  strategies: Strategy[];
  value: EditorState;
  onChange: (value: EditorState) => void;
  idPrefix: string;
  label?: string;
}

export function ConfigEditor({ strategies, value, onChange, idPrefix, label = "Strategy" }: Props) {
  const strategy = findStrategy(strategies, value.strategy);
  const selectId = `${idPrefix}-strategy`;
  return (
    <div className="config-editor">
      <div className="field">
        <label htmlFor={selectId}>{label}</label>
        <select
          id={selectId}
          value={value.strategy}
          onChange={(e) => onChange(switchStrategy(strategies, value, e.target.value))}
          aria-describedby={`${selectId}-help`}
        >
          {strategies.map((s) => (
            // What this installation cannot run is shown, but cannot be chosen.
            <option key={s.name} value={s.name} disabled={s.available === false && s.name !== value.strategy}>
              {s.available === false ? `${s.name} (not available here)` : s.name}
            </option>
          ))}
        </select>
        <p className="field-help" id={`${selectId}-help`}>
          {strategy?.description}
        </p>
        {strategy && strategy.available === false ? (
          <p className="field-error" role="status">
            {strategy.name} cannot run on this server: {strategy.unavailable_reason}
          </p>
        ) : null}
      </div>
      {strategy ? (
        <ParamForm
          schema={strategy.params_schema}
          values={value.values}
          onChange={(values) => onChange({ ...value, values })}
          idPrefix={idPrefix}
          legend={`${strategy.name} parameters`}
          choices={strategy.options}
        />
      ) : null}
    </div>
  );
}
