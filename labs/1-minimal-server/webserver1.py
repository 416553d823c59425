###########################################################################
# A minimal web server - webserver1.py                                    #
#                                                                         #
# Let's Build A Web Server, Part 1, in Python 3                           #
#                                                                         #
# One request at a time; whatever the request says, the same answer.     #
# What changed from the article's Python 2 code: print() is a function,   #
# and sendall() takes bytes, so the answer is encoded first.              #
###########################################################################
import socket

HOST, PORT = '', 8888

listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen_socket.bind((HOST, PORT))
listen_socket.listen(1)
print('Serving HTTP on port %s ...' % PORT)
while True:
    client_connection, client_address = listen_socket.accept()
    request = client_connection.recv(1024)
    print(request)

    http_response = """\
HTTP/1.1 200 OK

Hello, World!
"""
    client_connection.sendall(http_response.encode('utf-8'))
    client_connection.close()
