// Where apiKeyEnv names are resolved. The plugin backs it with WASI environ_get, which Envoy
// serves from vm_config.environment_variables (and nothing else).

export abstract class EnvLookup {
  /** The variable's value, or null when it is not set. */
  abstract get(name: string): string | null;
}
