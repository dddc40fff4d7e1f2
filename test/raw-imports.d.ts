// Vite's `?raw` import: the file's text (the contract tests read README.md this way). A script, not
// a module, so that the wildcard declaration is global.
declare module '*?raw' {
  const text: string;
  // biome-ignore lint/style/noDefaultExport: Vite serves a raw import as the module's default export.
  export default text;
}
