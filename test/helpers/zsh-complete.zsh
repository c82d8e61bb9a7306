# Completes a command line in a real interactive zsh (in a pseudo-terminal, with compinit and the
# completion directory $2 first in fpath) and prints each candidate zsh offers, one per line.
# Usage: zsh -f zsh-complete.zsh 'knockstick seqgen --st' DIR
zmodload zsh/zpty || exit 1
zpty z zsh -f -i
zpty -w z 'PROMPT=; RPROMPT=; fpath=('"$2"' $fpath); autoload -Uz compinit; compinit -u -D'
# A completion widget that prints what every compadd call adds, then a marker. The markers are
# written split in two ("<""C>") so that the terminal's echo of these lines never holds them: on a
# loaded machine the echo can arrive late, among the output (it once passed for a candidate).
zpty -w z 'comptest() { compadd() { builtin compadd -O __h "$@"; print -rl -- "<""C>"${^__h}; builtin compadd "$@" }; _main_complete; print -r -- "<""END>" }; zle -C comptest complete-word comptest; bindkey "^I" comptest'
zpty -w z 'print -r -- "<""READY>"'
zpty -r z line '*<READY>*'
zpty -n -w z "$1"$'\t'
out=
for i in {1..100}; do
  if zpty -r -t z line; then out+=$line; [[ $out == *'<END>'* ]] && break; else sleep 0.1; fi
done
zpty -d z
print -r -- "${out//$'\r'/}" | sed -n 's/.*<C>//p' | sort -u
