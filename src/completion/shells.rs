//! The shells oncall completes in, and kubectl's plugin completion.
//!
//! clap's dynamic engine finds the candidates; these adapters hand it the
//! line (so candidate functions can read the global flags on it), keep flags
//! out of the answer until the user has typed `-`, and answer in each
//! shell's format. Bash's registration is our own: clap's passes the words
//! as bash split them at `=` and `:`, which breaks `--set node=<TAB>` and
//! EKS context ARNs.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use clap_complete::engine::{self, CompletionCandidate};
use clap_complete::env::{self, EnvCompleter};

use super::{Shell, line};

/// Completes in one shell; for [`Shell::Kubectl`], kubectl's plugin completion
/// (`kubectl_complete-oncall`): cobra's `__complete` answer, one candidate a
/// line and a directive last.
pub(super) struct Adapter(pub Shell);

pub(super) const ALL: [Adapter; 6] = [
    Adapter(Shell::Bash),
    Adapter(Shell::Zsh),
    Adapter(Shell::Fish),
    Adapter(Shell::Powershell),
    Adapter(Shell::Elvish),
    Adapter(Shell::Kubectl),
];

/// cobra's `ShellCompDirectiveNoSpace` and `ShellCompDirectiveNoFileComp`.
const COBRA_NO_SPACE: u8 = 2;
const COBRA_NO_FILE: u8 = 4;

impl Adapter {
    /// clap's adapter, where its registration script is the one to use.
    fn upstream(&self) -> Option<&'static dyn EnvCompleter> {
        match self.0 {
            Shell::Zsh => Some(&env::Zsh),
            Shell::Fish => Some(&env::Fish),
            Shell::Powershell => Some(&env::Powershell),
            Shell::Elvish => Some(&env::Elvish),
            Shell::Bash | Shell::Kubectl => None,
        }
    }

    /// Which word is being completed: bash, zsh and elvish say so, the
    /// others pass the words up to the cursor.
    fn index(&self, args: &[OsString]) -> usize {
        let told = std::env::var("_CLAP_COMPLETE_INDEX")
            .ok()
            .and_then(|i| i.parse().ok());
        match self.0 {
            Shell::Bash | Shell::Zsh | Shell::Elvish => told.unwrap_or_default(),
            _ => args.len().saturating_sub(1),
        }
    }

    fn write(
        &self,
        candidates: &[CompletionCandidate],
        buf: &mut dyn Write,
    ) -> std::io::Result<()> {
        let ifs = std::env::var("_CLAP_IFS").unwrap_or_else(|_| "\n".into());
        let value = |c: &CompletionCandidate| c.get_value().to_string_lossy().into_owned();
        let help = |c: &CompletionCandidate| {
            c.get_help()
                .map(|h| h.to_string().lines().next().unwrap_or_default().to_string())
        };
        match self.0 {
            Shell::Bash | Shell::Elvish => {
                let values: Vec<String> = candidates.iter().map(value).collect();
                write!(buf, "{}", values.join(&ifs))
            }
            Shell::Zsh => {
                let entries: Vec<String> = candidates
                    .iter()
                    .map(|c| {
                        // `value:help`, so a `:` in the value (an ARN) is escaped.
                        let v = value(c).replace('\\', "\\\\").replace(':', "\\:");
                        match help(c) {
                            Some(h) => format!("{v}:{}", h.replace('\\', "\\\\")),
                            None => v,
                        }
                    })
                    .collect();
                write!(buf, "{}", entries.join(&ifs))
            }
            Shell::Fish | Shell::Powershell | Shell::Kubectl => {
                for c in candidates {
                    match help(c) {
                        Some(h) => writeln!(buf, "{}\t{h}", value(c))?,
                        None => writeln!(buf, "{}", value(c))?,
                    }
                }
                if self.0 == Shell::Kubectl {
                    // A `key=` or `kind/` wants its value typed on at once.
                    let open = !candidates.is_empty()
                        && candidates.iter().all(|c| value(c).ends_with(['=', '/']));
                    let directive = COBRA_NO_FILE | if open { COBRA_NO_SPACE } else { 0 };
                    writeln!(buf, ":{directive}")?;
                }
                Ok(())
            }
        }
    }
}

impl EnvCompleter for Adapter {
    fn name(&self) -> &'static str {
        match self.0 {
            Shell::Bash => "bash",
            Shell::Kubectl => "kubectl",
            _ => self.upstream().map_or("", |u| u.name()),
        }
    }

    fn is(&self, name: &str) -> bool {
        self.upstream().map_or(name == self.name(), |u| u.is(name))
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn Write,
    ) -> std::io::Result<()> {
        let quote = |s: &str| {
            shlex::try_quote(s)
                .map(|q| q.into_owned())
                .unwrap_or(s.into())
        };
        match (self.0, self.upstream()) {
            (_, Some(upstream)) => upstream.write_registration(var, name, bin, completer, buf),
            (Shell::Bash, None) => write!(
                buf,
                "{}",
                BASH.replace("NAME", &name.replace('-', "_"))
                    .replace("BIN", &quote(bin))
                    .replace("COMPLETER", &quote(completer))
                    .replace("VAR", var)
            ),
            (_, None) => write!(
                buf,
                "{}",
                KUBECTL_HELPER
                    .replace("COMPLETER", &quote(completer))
                    .replace("VAR", var)
            ),
        }
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        mut args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn Write,
    ) -> std::io::Result<()> {
        let index = self.index(&args);
        if args.len() <= index {
            // zsh leaves out an empty word under the cursor.
            args.resize(index + 1, OsString::new());
        }
        line::remember(&args, index);
        let typed_dash = line::current().starts_with('-');
        let candidates: Vec<CompletionCandidate> = engine::complete(cmd, args, index, current_dir)?
            .into_iter()
            // Flags only once the user asks for them with `-`, as kubectl.
            .filter(|c| typed_dash || !c.get_value().to_string_lossy().starts_with('-'))
            .collect();
        self.write(&candidates, buf)
    }
}

/// Bash: clap's script, but the words bash split at `=` and `:` (its
/// COMP_WORDBREAKS) are joined again before oncall sees them, and what was
/// typed up to the last such break is taken off each answer, since bash only
/// replaces the part after it (kubectl's `__ltrim_colon_completions`, for
/// `=` as well).
const BASH: &str = r#"
_clap_complete_NAME() {
    local IFS=$'\013'
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE}
    if compopt +o nospace 2> /dev/null; then
        local _CLAP_COMPLETE_SPACE=false
    else
        local _CLAP_COMPLETE_SPACE=true
    fi
    local words=() line=${COMP_LINE:0:COMP_POINT} i word rest last
    for ((i = 0; i <= COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        rest=${line#"${line%%[![:space:]]*}"}
        if ((i == COMP_CWORD)); then
            word=${rest:0:${#word}}
        fi
        last=$((${#words[@]} - 1))
        if ((i > 0)) && [[ $rest == "$line" ]] && [[ $word == [=:]* || ${words[last]} == *[=:] ]]; then
            words[last]+=$word
        else
            words+=("$word")
        fi
        line=${rest#"$word"}
    done
    local cur=${words[${#words[@]} - 1]}
    COMPREPLY=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$((${#words[@]} - 1))" \
        _CLAP_COMPLETE_COMP_TYPE="$_CLAP_COMPLETE_COMP_TYPE" \
        _CLAP_COMPLETE_SPACE="$_CLAP_COMPLETE_SPACE" \
        VAR="bash" \
        COMPLETER -- "${words[@]}" \
    ) )
    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    local breaks=
    [[ $COMP_WORDBREAKS == *=* ]] && breaks+='='
    [[ $COMP_WORDBREAKS == *:* ]] && breaks+=':'
    if [[ -n $breaks && $cur == *["$breaks"]* ]]; then
        local typed=${cur%"${cur##*["$breaks"]}"}
        COMPREPLY=("${COMPREPLY[@]#"$typed"}")
    fi
    if [[ $_CLAP_COMPLETE_SPACE == false ]] && [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
        compopt -o nospace
    fi
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -o nospace -o bashdefault -o nosort -F _clap_complete_NAME BIN
else
    complete -o nospace -o bashdefault -F _clap_complete_NAME BIN
fi
"#;

/// The executable kubectl 1.26 and newer look for on PATH to complete
/// `kubectl oncall …`: it gets the words after `kubectl oncall` and the word
/// being completed, and answers as cobra's `__complete` does.
const KUBECTL_HELPER: &str = r#"#!/bin/sh
# kubectl (1.26 and newer) runs this as kubectl_complete-oncall to complete
# `kubectl oncall ...`, passing the words after `kubectl oncall` and the word
# being completed. Install it next to kubectl-oncall (or oncall) on PATH.
if command -v kubectl-oncall >/dev/null 2>&1; then
    exec env VAR=kubectl kubectl-oncall -- oncall "$@"
fi
exec env VAR=kubectl COMPLETER -- oncall "$@"
"#;
