// The official ECommPay JavaScript SDK (npm ecommpay) as a merchant's client of kopilka.
// usage: node ecommpay-sdk.mjs url BASE_URL SECRET PROJECT_ID PAYMENT_ID AMOUNT [NAME=TEXT|NAME:=JSON …]
//        node ecommpay-sdk.mjs sign SECRET < request.json      (a Gate request's signature)
//        node ecommpay-sdk.mjs callback SECRET < body.json     (prints the payment's status)
import { readFileSync } from 'node:fs';
import ecommpay from 'ecommpay';

const { Payment, Callback, signer } = ecommpay;
const [command, ...args] = process.argv.slice(2);
const stdin = () => readFileSync(0, 'utf8');

if (command === 'url') {
  const [base, secret, projectId, paymentId, amount, ...extra] = args;
  const payment = new Payment(projectId, secret, {}, base);
  payment.paymentId = paymentId;
  payment.paymentAmount = Number(amount);
  payment.paymentCurrency = 'EUR';
  payment.customerId = 'customer1';
  // `NAME:=true` sets a typed value (a boolean, as a shop's code would), `NAME=true` a string.
  for (const pair of extra) {
    const [, name, typed, value] = pair.match(/^([^:=]+)(:?)=(.*)$/s);
    payment.params[name] = typed ? JSON.parse(value) : value;
  }
  console.log(payment.getUrl());
} else if (command === 'sign') {
  console.log(signer(JSON.parse(stdin()), args[0]));
} else if (command === 'callback') {
  const callback = new Callback(args[0], stdin());
  console.log(callback.callback.payment.status);
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
