"""asyncio streams: one process, one thread, an event loop serving every
connection."""
import asyncio

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nHello, World!\n"


async def handle(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(RESPONSE)
    await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "", 8888, backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main())
