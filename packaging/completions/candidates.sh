# The candidates for ferry's completion, shared by bash (ferry.bash) and zsh (_ferry): the
# build concatenates this file with each wrapper. Portable between bash and zsh (no arrays).
# Usage: _ferry_candidates WORD... CUR   (the words after `ferry`, the one being completed last)
# Prints one candidate a line, or @dir / @file for the shell's own path completion.
# Commands and options come from `ferry --help` itself; environment and playbook names from
# the project's environments/*.yaml and playbooks/*.yaml (-C DIR honoured); backup ids from
# `ferry backups ENV --json`.
_ferry_yaml_names() {
  command ls -1 -- "$1" 2>/dev/null | sed -n 's/\.ya\{0,1\}ml$//p'
}
_ferry_help() {
  command ferry "$@" --help 2>/dev/null
}
_ferry_candidates() {
  local root=. sub='' nested='' prev='' env='' pos=0 w
  while [ $# -gt 1 ]; do
    w=$1
    shift
    [ "$prev" = -C ] && root=$w
    case $prev in
      -C | --state-dir | --log-file | --metrics-file | --env | --to | --backup | --every | --user | --fail-on | \
        --medium-rows | --high-rows | --report | --wait-lock | --wait-ready) ;;
      *)
        case $w in
          -*) ;;
          *)
            if [ -z "$sub" ]; then
              sub=$w
            elif [ "$sub" = backup ] && [ -z "$nested" ] && [ $pos = 0 ] &&
              { [ "$w" = pin ] || [ "$w" = unpin ] || [ "$w" = verify ]; }; then
              nested=$w
            else
              [ $pos = 0 ] && env=$w
              pos=$((pos + 1))
            fi
            ;;
        esac
        ;;
    esac
    prev=$w
  done
  case $root in "~"/*) root=$HOME/${root#"~/"} ;; esac
  case $prev in
    -C | --state-dir) echo @dir; return ;;
    --log-file | --metrics-file | --report) echo @file; return ;;
    --env) _ferry_yaml_names "$root/environments"; return ;;
    --backup)
      echo latest
      [ -n "$env" ] && command ferry -C "$root" backups "$env" --json 2>/dev/null |
        sed -n 's/^ *"id": *"\([^"]*\)".*/\1/p'
      return
      ;;
    --to | --every | --user | --fail-on | --medium-rows | --high-rows | --wait-lock | --wait-ready) return ;;
  esac
  case $1 in
    -*)
      _ferry_help ${sub:+"$sub"} ${nested:+"$nested"} | awk '/^ +-/ { n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] ~ /^-/) print a[i] }'
      return
      ;;
  esac
  case $sub in
    "") _ferry_help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' ;;
    plan | run | lint | schedule) [ $pos = 0 ] && _ferry_yaml_names "$root/playbooks" ;;
    history | backups | rollback) [ $pos = 0 ] && _ferry_yaml_names "$root/environments" ;;
    backup)
      if [ $pos = 0 ]; then
        [ -z "$nested" ] && printf '%s\n' pin unpin verify
        _ferry_yaml_names "$root/environments"
      elif [ $pos = 1 ] && [ -n "$nested" ]; then
        [ "$nested" = verify ] && echo latest
        command ferry -C "$root" backups "$env" --json 2>/dev/null | sed -n 's/^ *"id": *"\([^"]*\)".*/\1/p'
      fi
      ;;
  esac
}
