interface Props {
  error: string | null | undefined;
  onRetry?: () => void;
  title?: string;
}

/** The server's `detail` sentence (or another error), announced, with an optional retry. */
export function ErrorMessage({ error, onRetry, title }: Props) {
  if (!error) return null;
  return (
    <div className="error-message" role="alert">
      {title ? <strong>{title} </strong> : null}
      <span>{error}</span>
      {onRetry ? (
        <button type="button" className="link-button" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
