// One per screen: a screen that throws while rendering shows what went wrong and a retry,
// never a blank page.
import { Component, type ErrorInfo, type ReactNode } from "react";
import { describeError } from "../api/client";

interface Props {
  children: ReactNode;
  screen: string;
}

interface State {
  error: unknown;
  attempt: number;
}

export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null, attempt: 0 };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error ?? new Error("unknown error") };
  }

  componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error(`The ${this.props.screen} screen failed`, error, info.componentStack);
  }

  retry = () => this.setState((s) => ({ error: null, attempt: s.attempt + 1 }));

  render() {
    if (this.state.error) {
      return (
        <section className="screen-error" role="alert" aria-labelledby="screen-error-title">
          <h1 id="screen-error-title">The {this.props.screen} screen hit a problem</h1>
          <p>{describeError(this.state.error)}</p>
          <button type="button" onClick={this.retry}>
            Try again
          </button>
        </section>
      );
    }
    return <div key={this.state.attempt}>{this.props.children}</div>;
  }
}
