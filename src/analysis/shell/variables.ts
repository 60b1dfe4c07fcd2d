/**
 * Variables whose value changes what a later command runs: the command search path, preloaded libraries, files
 * a shell or an interpreter reads at start-up, prompts (their command substitutions run), the word splitter, and
 * helpers other programs start (editors, pagers, ssh commands). Setting one (`X=... cmd`, `export X=...`,
 * `env X=...`, `sudo X=...`) makes the unit `unknown`. Data only.
 */

const NAMES = new Set([
  'PATH', 'IFS', 'ENV', 'BASH_ENV', 'PROMPT_COMMAND', 'PS0', 'PS1', 'PS2', 'PS3', 'PS4', 'SHELLOPTS', 'BASHOPTS',
  'GLOBIGNORE', 'CDPATH', 'HOME', 'HISTFILE', 'INPUTRC', 'SHELL', 'BASH_LOADABLES_PATH', 'EXECIGNORE',
  'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PYTHONINSPECT', 'PERL5LIB', 'PERL5OPT', 'PERLLIB', 'RUBYLIB',
  'RUBYOPT', 'NODE_OPTIONS', 'NODE_PATH', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'CLASSPATH',
  'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_EXEC_PATH', 'GIT_PAGER', 'GIT_EDITOR', 'GIT_ASKPASS', 'GIT_EXTERNAL_DIFF',
  'GIT_PROXY_COMMAND', 'GIT_TEMPLATE_DIR', 'EDITOR', 'VISUAL', 'PAGER', 'MANPAGER', 'LESSOPEN', 'LESSCLOSE',
  'BROWSER', 'SUDO_ASKPASS', 'SSH_ASKPASS', 'RSYNC_RSH', 'SYSTEMD_PAGER', 'ZDOTDIR', 'TERMINFO',
]);

const PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG', 'PYTHON', 'NODE_'];

/** Whether setting `name` can change what runs. */
export function dangerousVariable(name: string): boolean {
  return NAMES.has(name) || PREFIXES.some((p) => name.startsWith(p));
}
