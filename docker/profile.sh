# /etc/profile.d/lab3.sh: login shells of the lab3 container
# The welcome in the learner's language, chosen as `lab` chooses it: LAB_LANG
# (en, zh), else the locale (LC_ALL, LC_MESSAGES, LANG: the first one set).
lab3_welcome=/etc/lab3/welcome.txt
case "${LAB_LANG:-}" in
    zh*) lab3_lang=zh ;;
    en*) lab3_lang=en ;;
    *) case "${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}" in zh*) lab3_lang=zh ;; *) lab3_lang=en ;; esac ;;
esac
if [ "$lab3_lang" = zh ] && [ -r /etc/lab3/welcome.zh.txt ]; then
    lab3_welcome=/etc/lab3/welcome.zh.txt
fi
case $- in
    *i*) [ -r "$lab3_welcome" ] && [ -z "${LAB_NO_WELCOME:-}" ] && cat "$lab3_welcome" ;;
esac
unset lab3_welcome lab3_lang
