import HourmeterCore
import HourmeterStore
import HourmeterServer
import ArgumentParser
import AsyncHTTPClient
import Hummingbird
print("hourmeter")
