# /etc/profile.d/lab3.sh: login shells of the lab3 container
case $- in
    *i*) [ -r /etc/lab3/welcome.txt ] && [ -z "${LAB_NO_WELCOME:-}" ] && cat /etc/lab3/welcome.txt ;;
esac
