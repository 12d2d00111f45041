// Placeholder: filled in by the layer that needs it.
export default async function setup(): Promise<void> {}
