# bash completion for ferry (installed as share/bash-completion/completions/ferry).
_ferry() {
  local cur=${COMP_WORDS[COMP_CWORD]} words
  words=$(_ferry_candidates "${COMP_WORDS[@]:1:COMP_CWORD}")
  case $words in
    @dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    @file) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    *) mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur") ;;
  esac
}
complete -F _ferry ferry
