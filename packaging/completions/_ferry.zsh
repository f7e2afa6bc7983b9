# zsh completion for ferry (installed as share/zsh/vendor-completions/_ferry).
_ferry() {
  setopt localoptions nonomatch
  local -a reply
  reply=(${(f)"$(_ferry_candidates "${(@)words[2,CURRENT]}")"})
  case ${reply[1]-} in
    @dir) _files -/ ;;
    @file) _files ;;
    *) compadd -a reply ;;
  esac
}
(( ${+compstate} )) && _ferry "$@"
